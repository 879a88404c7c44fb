import type { Tone } from '../format.ts';

/** Shows a state in words with a colored dot. The words carry the meaning, and the color only repeats it. */
export function StateBadge({ label, tone }: { label: string; tone: Tone }) {
  return (
    <span className={`badge badge-${tone}`}>
      <span className="badge-dot" aria-hidden="true" />
      {label}
    </span>
  );
}
