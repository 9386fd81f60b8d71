import type { FieldProblem, Problem } from './types.js';

/** Kinds by status, for error bodies that are not problem+json (a proxy's HTML page, say). */
const KIND_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'validation',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  429: 'rate-limited',
  503: 'unavailable',
};

/** Every non-2xx answer of the server, carrying its RFC 9457 problem details. */
export class ProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldProblem[];
  /** From `Retry-After`, when the server sent one (429 and 503). */
  readonly retryAfterMs?: number;

  constructor(problem: Problem, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(problem.detail || problem.title, { cause: options.cause });
    this.name = 'ProblemError';
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** The last path segment of `type`: `validation`, `rate-limited`, `not-found`, … */
  get kind(): string {
    const path = this.type.replace(/[?#].*$/, '').replace(/\/+$/, '');
    if (path === '' || path === 'about:blank') return KIND_BY_STATUS[this.status] ?? (this.status >= 500 ? 'internal' : 'unknown');
    return path.slice(path.lastIndexOf('/') + 1);
  }

  toJSON(): Problem {
    const problem: Problem = { type: this.type, title: this.title, status: this.status, detail: this.detail };
    return this.errors.length > 0 ? { ...problem, errors: this.errors } : problem;
  }

  /** Reads the body of a failed response; a body that is not a problem still gives an error. */
  static async fromResponse(response: Response): Promise<ProblemError> {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    const fallbackTitle = response.statusText || `HTTP ${response.status}`;
    let text = '';
    try {
      text = await response.text();
    } catch {
      // The body broke off; the status still says what happened.
    }
    const body = parseJsonObject(text);
    const title = typeof body?.title === 'string' ? body.title : fallbackTitle;
    const problem: Problem = {
      type: typeof body?.type === 'string' && body.type !== '' ? body.type : 'about:blank',
      title,
      status: response.status,
      detail: typeof body?.detail === 'string' ? body.detail : body === undefined && text.trim() !== '' ? text.trim().slice(0, 500) : title,
      errors: Array.isArray(body?.errors) ? body.errors.filter(isFieldProblem) : [],
    };
    return new ProblemError(problem, retryAfterMs === undefined ? {} : { retryAfterMs });
  }
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isFieldProblem(value: unknown): value is FieldProblem {
  if (typeof value !== 'object' || value === null) return false;
  const { path, message } = value as Record<string, unknown>;
  return typeof path === 'string' && typeof message === 'string';
}

/** `Retry-After` is either delay-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
