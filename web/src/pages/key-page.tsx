import { useState } from "preact/hooks";
import { api, storeKey } from "../api.js";
import { ErrorMessage } from "../components/status.js";
import { errorText } from "../hooks.js";

/** Asks for an API key once; it is checked against the API, then kept in this browser's localStorage. */
export function KeyPage({ onKey }: { onKey: (key: string) => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    try {
      const trimmed = key.trim();
      await fetchWithKey(trimmed);
      storeKey(trimmed);
      onKey(trimmed);
    } catch (thrown) {
      setError(errorText(thrown));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="key-page" aria-labelledby="key-title">
      <h1 id="key-title">mediaflow</h1>
      <form onSubmit={submit} class="card">
        <label>
          API key
          <input
            type="password"
            name="api-key"
            autoComplete="off"
            required
            value={key}
            onInput={(event) => setKey(event.currentTarget.value)}
          />
        </label>
        <p class="muted">
          <code>mediaflow serve</code> prints a key on first start;{" "}
          <code>mediaflow keys create --tenant NAME</code> makes more. It is kept in this browser only.
        </p>
        <ErrorMessage error={error} />
        <button type="submit" class="button primary" disabled={busy}>
          Sign in
        </button>
      </form>
    </section>
  );
}

async function fetchWithKey(key: string): Promise<void> {
  const previous = localStorage.getItem("mediaflow.apiKey");
  storeKey(key);
  try {
    await api.listJobs({ limit: 1 });
  } catch (error) {
    storeKey(previous);
    throw error;
  }
}
