import type { ApiError } from '../../../core/api/definition.ts';

/** Shows an API error in a role="alert" box, or nothing. */
export function ErrorNotice({ error, id }: { error: ApiError | null; id?: string }) {
  if (!error) return null;
  return (
    <p className="notice notice-bad" role="alert" id={id}>
      {error.message}
    </p>
  );
}
