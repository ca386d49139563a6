import { useEffect, useState } from "preact/hooks";

/**
 * Hash routes (`#/jobs/ID`): they need nothing from the server, and a page reload keeps its place.
 */
export type Route =
  | { page: "jobs" }
  | { page: "job"; id: string }
  | { page: "new" }
  | { page: "pipelines"; name: string | null }
  | { page: "system" };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  switch (parts[0]) {
    case "jobs":
      return parts[1] ? { page: "job", id: parts[1] } : { page: "jobs" };
    case "new":
      return { page: "new" };
    case "pipelines":
      return { page: "pipelines", name: parts[1] ?? null };
    case "system":
      return { page: "system" };
    default:
      return { page: "jobs" };
  }
}

export const links = {
  jobs: "#/jobs",
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  newJob: "#/new",
  pipelines: "#/pipelines",
  pipeline: (name: string) => `#/pipelines/${encodeURIComponent(name)}`,
  system: "#/system",
};

export function navigate(hash: string): void {
  window.location.hash = hash;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}
