import { useEffect, useRef } from "preact/hooks";
import type { OutputView } from "../api.js";
import { formatBytes } from "../format.js";

type Kind = "strip" | "image" | "video" | "hls" | "dash" | "segment" | "file";

/** How an output is shown, from its content type and, for thumbnails and storyboards, its name. */
export function outputKind(output: OutputView): Kind {
  const type = output.contentType.toLowerCase();
  const name = output.name.toLowerCase();
  if (type.includes("mpegurl") || name.endsWith(".m3u8")) return "hls";
  if (/\.(m4s|ts)$/.test(name) || /(^|\/)init[-_.]/.test(name)) return "segment";
  if (type.includes("dash+xml") || name.endsWith(".mpd")) return "dash";
  if (type.startsWith("image/"))
    return /thumb|storyboard|sprite/.test(`${output.step} ${name}`) ? "strip" : "image";
  if (type.startsWith("video/")) return "video";
  return "file";
}

/** A job's outputs with previews: images inline, videos playable, HLS through hls.js, the rest linked. */
export function Outputs({ outputs }: { outputs: OutputView[] }) {
  if (outputs.length === 0) return <p class="muted">No outputs yet.</p>;
  const strip = outputs.filter((output) => outputKind(output) === "strip");
  const segments = outputs.filter((output) => outputKind(output) === "segment");
  const others = outputs.filter((output) => !["strip", "segment"].includes(outputKind(output)));
  // Of several HLS playlists, only masters deserve a player; media playlists are listed.
  const hasMaster = others.some((output) => outputKind(output) === "hls" && /master/i.test(output.name));
  const playable = (output: OutputView) => {
    const kind = outputKind(output);
    if (kind === "hls") return !hasMaster || /master/i.test(output.name);
    return kind === "image" || kind === "video";
  };
  const previewed = others.filter(playable);
  const listed = others.filter((output) => !playable(output));
  return (
    <div class="outputs">
      {strip.length > 0 && (
        <figure class="output-strip-figure">
          <div class="output-strip">
            {strip.map((output) => (
              <a
                key={output.url}
                class="strip-item"
                href={output.url}
                target="_blank"
                rel="noreferrer"
                title={`${output.name} · ${formatBytes(output.bytes)}`}
              >
                <img src={output.url} alt={`${output.step}: ${output.name}`} loading="lazy" />
                <span class="strip-name">{output.name}</span>
              </a>
            ))}
          </div>
          <figcaption>Thumbnails and storyboards ({strip.length})</figcaption>
        </figure>
      )}
      <ul class="output-list">
        {previewed.map((output) => (
          <li key={output.url} class={`output output-${outputKind(output)}`}>
            <OutputPreview output={output} outputs={outputs} />
            <OutputCaption output={output} />
          </li>
        ))}
      </ul>
      {listed.length > 0 && (
        <ul class="output-links">
          {listed.map((output) => (
            <li key={output.url} class={`output-${outputKind(output)}`}>
              <OutputCaption output={output} />
            </li>
          ))}
        </ul>
      )}
      {segments.length > 0 && (
        <p class="muted">
          and {segments.length} media segments (
          {formatBytes(segments.reduce((sum, output) => sum + output.bytes, 0))}) for the playlists above
        </p>
      )}
    </div>
  );
}

function OutputCaption({ output }: { output: OutputView }) {
  return (
    <p class="output-caption">
      <a href={output.url} download={output.name}>
        {output.name}
      </a>{" "}
      <span class="muted">
        from {output.step} · {output.contentType} · {formatBytes(output.bytes)}
      </span>
    </p>
  );
}

function OutputPreview({ output, outputs }: { output: OutputView; outputs: OutputView[] }) {
  switch (outputKind(output)) {
    case "image":
      return (
        <img class="output-image" src={output.url} alt={`${output.step}: ${output.name}`} loading="lazy" />
      );
    case "video":
      return (
        // biome-ignore lint/a11y/useMediaCaption: pipeline outputs come without caption tracks
        <video class="output-video" src={output.url} controls preload="metadata" />
      );
    case "hls":
      return <HlsPlayer url={output.url} outputs={outputs} />;
    default:
      return null;
  }
}

/**
 * Each output has its own signed URL, but a playlist names its media playlists and segments by relative
 * path, which resolves to the same path without a signature. This maps such a path back to the signed URL
 * the API gave for it.
 */
function signedUrls(outputs: OutputView[]): (url: string) => string | undefined {
  const byPath = new Map<string, string>();
  for (const output of outputs) {
    const absolute = new URL(output.url, window.location.href);
    byPath.set(decodeURIComponent(absolute.pathname), absolute.href);
  }
  return (url) => byPath.get(decodeURIComponent(new URL(url, window.location.href).pathname));
}

/**
 * Plays an HLS master playlist through hls.js (loaded on demand), which lets every request be re-signed.
 * Browsers without Media Source Extensions get the native player, which can only follow URLs as written.
 */
function HlsPlayer({ url, outputs }: { url: string; outputs: OutputView[] }) {
  const video = useRef<HTMLVideoElement>(null);
  // Every refetch of the job signs the URLs anew; the player keeps playing and reads the newest ones.
  const latest = useRef(outputs);
  latest.current = outputs;
  const path = url.split("?")[0];
  useEffect(() => {
    const element = video.current;
    if (element === null) return;
    let destroy: (() => void) | undefined;
    let cancelled = false;
    void import("hls.js").then(({ default: Hls }) => {
      if (cancelled) return;
      if (!Hls.isSupported()) {
        element.src = url;
        return;
      }
      const hls = new Hls({
        xhrSetup(xhr, requested) {
          const resigned = signedUrls(latest.current)(requested);
          if (resigned !== undefined) xhr.open("GET", resigned, true);
        },
      });
      hls.loadSource(url);
      hls.attachMedia(element);
      destroy = () => hls.destroy();
    });
    return () => {
      cancelled = true;
      destroy?.();
    };
    // Keyed by the path: a new signature of the same playlist is the same video.
  }, [path]);
  return <video ref={video} class="output-video output-hls" controls muted preload="metadata" />;
}
