export declare class PidLockTimeout extends Error {}
export declare function withPidLock<T>(path: string, waitMs: number, work: () => Promise<T>): Promise<T>;
export declare function isAlive(pid: number): boolean;
