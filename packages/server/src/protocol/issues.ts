import type { z } from 'zod';

/**
 * Turns schema issues into one line that names every failing path, as the docs promise:
 * `data.run_id: required; type: must match ^[a-z]…`.
 */
export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues.map((issue) => formatIssue(issue, prefix)).join('; ');
}

function formatIssue(issue: z.core.$ZodIssue, prefix: string): string {
  const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
  const message = issueMessage(issue);
  return path === '' ? message : `${path}: ${message}`;
}

/** The message of one issue, with zod's "expected string, received undefined" said as `required`. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  return issue.code === 'invalid_type' && /received undefined/.test(issue.message)
    ? 'required'
    : issue.message;
}
