import { render } from "preact";
import { useState } from "preact/hooks";
import { storedKey, storeKey } from "./api.js";
import { JobPage } from "./pages/job-page.js";
import { JobsPage } from "./pages/jobs-page.js";
import { KeyPage } from "./pages/key-page.js";
import { NewJobPage } from "./pages/new-job-page.js";
import { PipelinesPage } from "./pages/pipelines-page.js";
import { SystemPage } from "./pages/system-page.js";
import { links, type Route, useRoute } from "./router.js";
import "./styles.css";

const navItems: { page: Route["page"][]; href: string; label: string }[] = [
  { page: ["jobs", "job"], href: links.jobs, label: "Jobs" },
  { page: ["new"], href: links.newJob, label: "New job" },
  { page: ["pipelines"], href: links.pipelines, label: "Pipelines" },
  { page: ["system"], href: links.system, label: "System" },
];

function App() {
  const [key, setKey] = useState(storedKey());
  const route = useRoute();
  if (key === null) return <KeyPage onKey={setKey} />;
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={links.jobs}>
          mediaflow
        </a>
        <nav aria-label="main">
          <ul>
            {navItems.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={item.page.includes(route.page) ? "page" : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button
          type="button"
          class="button small sign-out"
          onClick={() => {
            storeKey(null);
            setKey(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main id="main">
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "jobs":
      return <JobsPage />;
    case "job":
      return <JobPage key={route.id} id={route.id} />;
    case "new":
      return <NewJobPage />;
    case "pipelines":
      return <PipelinesPage selected={route.name} />;
    case "system":
      return <SystemPage />;
  }
}

const root = document.getElementById("app");
if (root !== null) render(<App />, root);
