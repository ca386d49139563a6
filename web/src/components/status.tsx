/** A status as a word with a colour; the word carries the meaning, the colour only helps. */
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{status}</span>;
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const percent = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div
      class="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
    >
      <div class="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}

export function ErrorMessage({ error }: { error: string | null }) {
  return error === null ? null : (
    <p class="error-message" role="alert">
      {error}
    </p>
  );
}
