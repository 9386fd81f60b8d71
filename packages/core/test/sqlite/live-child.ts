import { spawn, type ChildProcess } from 'node:child_process';

/** A child process whose JSON lines are read as they come, and which a test can signal. */
export interface LiveChild {
  process: ChildProcess;
  /** The next line of stdout, parsed as JSON; rejects if the process exits first. */
  nextLine(): Promise<any>;
  /** Writes one line to its stdin. */
  send(line: string): void;
  /** Resolves with the exit code or signal once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stderr, for failure messages. */
  stderr(): string;
}

/** Starts `node <program> ...args`: a bundle from `bundleChildProgram`. */
export function startChild(program: string, args: string[]): LiveChild {
  const child = spawn(process.execPath, [program, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const readers: Array<{ resolve: (line: any) => void; reject: (error: Error) => void }> = [];
  let buffered = '';
  let errors = '';
  let ended = false;
  const failReaders = () => {
    for (const reader of readers.splice(0)) reader.reject(new Error(`The child exited before writing a line; stderr: ${errors}`));
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() === '') continue;
      const reader = readers.shift();
      if (reader) reader.resolve(JSON.parse(line));
      else lines.push(line);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      failReaders();
      resolve({ code, signal });
    });
  });
  return {
    process: child,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) resolve(JSON.parse(line));
        else if (ended) reject(new Error(`The child has exited; stderr: ${errors}`));
        else readers.push({ resolve, reject });
      }),
    send: (line) => child.stdin!.write(`${line}\n`),
    exited,
    stderr: () => errors,
  };
}
