// PlexSync in Stash's UI: a "Plex" tab on every scene page (Stash v0.28+) and a PlexSync page
// (Stash v0.25+). A classic script, not a module: Stash concatenates plugin scripts into one global
// scope, so everything lives in this IIFE. React, react-bootstrap, Apollo and react-router come from
// window.PluginApi (Stash's own copies: a second React would break hooks). The only network access
// is Stash's own GraphQL: runPluginOperation(plugin_id: "PlexSync", args: {mode, ...}) runs
// PlexSync's Python and answers its output (README, "Operations").
(function () {
  "use strict";

  const api = window.PluginApi;
  if (!api || !api.React || !api.patch || !api.register || !api.libraries || !api.libraries.Apollo) {
    return; // Stash before v0.24 has no plugin API: nothing to add, nothing to break
  }
  const React = api.React;
  const h = React.createElement;
  const Fragment = React.Fragment;
  const Bootstrap = api.libraries.Bootstrap;
  const Apollo = api.libraries.Apollo;
  const Router = api.libraries.ReactRouterDOM;

  const PLUGIN_ID = "PlexSync";
  const TAB_KEY = "plexsync-panel";
  // Stash's server mounts /plugin/ for plugin files, so a browser reload of /plugin/plexsync gets
  // Stash's 404 (internal/api/server.go); links use /plugins/plexsync, which survives a reload.
  const PAGE_PATH = "/plugins/plexsync";
  const PAGE_PATHS = ["/plugin/plexsync", PAGE_PATH];
  const CHART_DAYS = 3;
  const OPERATION = Apollo.gql(
    "mutation PlexSyncOperation($plugin_id: ID!, $args: Map) { runPluginOperation(plugin_id: $plugin_id, args: $args) }"
  );

  // ---------------------------------------------------------------------------------- talking to PlexSync

  function messageOf(error) {
    if (!error) return "unknown error";
    if (error.graphQLErrors && error.graphQLErrors.length) {
      return error.graphQLErrors.map((e) => e.message).join("; ");
    }
    if (error.networkError) {
      return "Stash did not answer: " + (error.networkError.message || String(error.networkError));
    }
    return error.message || String(error);
  }

  // Runs one PlexSync operation; resolves to its output, rejects with the reason in words.
  function useOperation() {
    const client = Apollo.useApolloClient();
    return React.useCallback(
      (args) =>
        client
          .mutate({ mutation: OPERATION, variables: { plugin_id: PLUGIN_ID, args: args }, fetchPolicy: "no-cache" })
          .then((result) => result.data.runPluginOperation)
          .catch((error) => {
            throw new Error(messageOf(error));
          }),
      [client]
    );
  }

  function useMounted() {
    const mounted = React.useRef(true);
    React.useEffect(() => () => {
      mounted.current = false;
    }, []);
    return mounted;
  }

  // {loading, data, error} of one operation, loaded on mount and whenever ``key`` changes.
  function useResource(run, args, key) {
    const mounted = useMounted();
    const [state, setState] = React.useState({ loading: true, data: null, error: null });
    const reload = React.useCallback(() => {
      setState((old) => ({ loading: true, data: old.data, error: null }));
      return run(args).then(
        (data) => mounted.current && setState({ loading: false, data: data, error: null }),
        (error) => mounted.current && setState((old) => ({ loading: false, data: old.data, error: error.message }))
      );
    }, [run, key]); // eslint-disable-line react-hooks/exhaustive-deps
    React.useEffect(() => {
      reload();
    }, [reload]);
    const replace = React.useCallback((data) => setState({ loading: false, data: data, error: null }), []);
    return { state: state, reload: reload, replace: replace };
  }

  // One button press at a time: {busy, outcome, error}, with ``start(name, promise)``.
  function useAction() {
    const mounted = useMounted();
    const [state, setState] = React.useState({ busy: null, outcome: null, error: null });
    const start = React.useCallback((name, promise) => {
      setState({ busy: name, outcome: null, error: null });
      return promise.then(
        (outcome) => {
          if (mounted.current) setState({ busy: null, outcome: outcome, error: null });
          return outcome;
        },
        (error) => {
          if (mounted.current) setState({ busy: null, outcome: null, error: name + " failed: " + error.message });
        }
      );
    }, []);
    return [state, start];
  }

  // ---------------------------------------------------------------------------------------- small pieces

  function when(iso) {
    if (!iso) return "never";
    const date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function shown(value) {
    if (Array.isArray(value)) return value.length ? value.join(", ") : "—";
    return value === null || value === undefined || value === "" ? "—" : String(value);
  }

  const FIELD_NAMES = {
    title: "Title", titleSort: "Sort title", summary: "Details", studio: "Studio", originallyAvailableAt: "Date",
    year: "Year", genre: "Genres", label: "Labels", actor: "Performers", collection: "Collection", rating: "Rating (0-10)",
  };

  function fieldName(key) {
    return FIELD_NAMES[key] || key;
  }

  function Spinner(props) {
    return h("div", { className: "plexsync-loading text-muted" },
      h(Bootstrap.Spinner, { animation: "border", size: "sm", role: "status" }), " ", props.children);
  }

  function Problem(props) {
    return h(Bootstrap.Alert, { variant: props.variant || "danger", className: "plexsync-problem" }, props.children);
  }

  function Section(props) {
    return h("section", { className: "plexsync-section " + (props.className || "") },
      h("h6", { className: "plexsync-section-title" }, props.title), props.children);
  }

  function Facts(props) {
    const rows = props.rows.filter((row) => row && row[1] !== undefined);
    return h("dl", { className: "plexsync-facts" }, rows.map((row) =>
      h(Fragment, { key: row[0] }, h("dt", null, row[0]), h("dd", null, row[1]))));
  }

  const OUTCOME_VARIANTS = { synced: "success", forgotten: "success", unchanged: "info", dead: "danger",
    retry: "warning", held: "warning", queued: "info" };

  function Outcome(props) {
    if (props.action.error) return h(Problem, null, props.action.error);
    const outcome = props.action.outcome;
    if (!outcome || !outcome.line) return null;
    return h(Bootstrap.Alert, { variant: OUTCOME_VARIANTS[outcome.result] || "info", className: "plexsync-outcome" },
      outcome.line);
  }

  class Guard extends React.Component {
    constructor(props) {
      super(props);
      this.state = { error: null };
    }
    static getDerivedStateFromError(error) {
      return { error: error };
    }
    render() {
      if (this.state.error) {
        return h(Problem, null, "PlexSync's " + this.props.what + " could not be shown: " + messageOf(this.state.error));
      }
      return this.props.children;
    }
  }

  // Plex Web is linked only when this browser can reach plex_url: it loads Plex Web's icon from there
  // (images may come from anywhere under Stash's Content-Security-Policy; fetch may not).
  const reachable = {};

  function usePlexWebReachable(url) {
    const mounted = useMounted();
    const [ok, setOk] = React.useState(url ? reachable[url] : false);
    React.useEffect(() => {
      if (!url || reachable[url] !== undefined) {
        setOk(url ? reachable[url] : false);
        return undefined;
      }
      const probe = new Image();
      const done = (value) => {
        reachable[url] = value;
        if (mounted.current) setOk(value);
      };
      const timer = setTimeout(() => done(false), 4000);
      probe.onload = () => { clearTimeout(timer); done(true); };
      probe.onerror = () => { clearTimeout(timer); done(false); };
      probe.src = url.replace(/\/+$/, "") + "/web/favicon.ico";
      return () => clearTimeout(timer);
    }, [url]); // eslint-disable-line react-hooks/exhaustive-deps
    return ok;
  }

  function plexWebLink(plexWeb, ratingKey) {
    const key = encodeURIComponent("/library/metadata/" + ratingKey);
    return plexWeb.url.replace(/\/+$/, "") + "/web/index.html#!/server/" + plexWeb.machine_id + "/details?key=" + key;
  }

  // ------------------------------------------------------------------------------------------ the tab

  function describeQueue(status) {
    const retry = status.queue.retry;
    switch (status.state) {
      case "dead_letter": return "Not synced: PlexSync gave up on this scene (see below).";
      case "held": return "Held: Plex or Stash is unreachable; PlexSync tries again at " + when(retry && retry.due_at) + ".";
      case "retrying": return "Waiting for a retry at " + when(retry.due_at) + " (" + retry.error_class.replace("_", " ") + "): " + retry.last_error;
      case "syncing": return "The background worker is syncing this scene now.";
      case "queued":
        return "Queued (" + status.queue.waiting + " waiting); " +
          (status.worker_running ? "the background worker is running." : "a worker starts with the next change or task.");
      case "synced": return "Nothing waiting in PlexSync's queue.";
      default: return "PlexSync has not written this scene to Plex yet.";
    }
  }

  const STATE_BADGES = {
    dead_letter: ["danger", "Dead letter"], held: ["warning", "Held"], retrying: ["warning", "Retrying"],
    syncing: ["info", "Syncing"], queued: ["info", "Queued"], synced: ["success", "Synced"], never_synced: ["secondary", "Not synced"],
  };

  function StateBadge(props) {
    const badge = STATE_BADGES[props.state] || ["secondary", props.state];
    return h(Bootstrap.Badge, { variant: badge[0], className: "plexsync-state", "data-state": props.state }, badge[1]);
  }

  function DeadLetters(props) {
    return h("ul", { className: "plexsync-letters list-unstyled" }, props.letters.map((letter) =>
      h("li", { key: letter.id, className: "plexsync-letter", "data-letter": letter.id },
        h("div", { className: "plexsync-letter-reason" }, h("strong", null, letter.error_class.replace("_", " ")), ": ", letter.reason),
        h("div", { className: "plexsync-letter-remedy" }, "Fix: ", letter.remedy),
        h("div", { className: "text-muted small" }, "Failed " + when(letter.failed_at) + " after " + letter.attempts + " attempt(s)"),
        props.onRetry && h(Bootstrap.Button, { size: "sm", variant: "warning", className: "plexsync-retry", disabled: !!props.busy,
          onClick: () => props.onRetry(letter.id) }, props.busy === "Retry" ? "Retrying…" : "Retry"))));
  }

  function QueueSection(props) {
    const status = props.status;
    return h(Section, { title: "Queue", className: "plexsync-queue" },
      h("p", { className: "plexsync-queue-state" }, describeQueue(status)),
      status.plex_breaker.state !== "closed" && h(Problem, { variant: "warning" },
        "Plex's circuit breaker is " + status.plex_breaker.state.replace("_", "-") + ": jobs wait until Plex answers again."),
      status.dead_letters.length > 0 && h(DeadLetters, { letters: status.dead_letters, onRetry: props.onRetry, busy: props.busy }));
  }

  function confidenceText(match) {
    if (!match) return undefined;
    if (match.matched_by === "provider" || match.confidence === "guid") return "matched by the metadata provider";
    if (match.confidence === "high") return "high: the exact file path";
    if (match.confidence === "low") return "low: the same file name and size";
    return match.confidence || "unknown";
  }

  function PlexItemSection(props) {
    const recorded = props.status && props.status.match;
    const live = props.diff && props.diff.match;
    const match = live || recorded;
    const plexWeb = (props.diff && props.diff.plex_web) || (props.status && props.status.plex_web);
    const canOpen = usePlexWebReachable(plexWeb && plexWeb.url);
    if (!match) {
      return h(Section, { title: "Plex item", className: "plexsync-item" },
        h("p", { className: "text-muted" }, props.diffLoading ? "Looking for the Plex item…" :
          "No Plex item is known for this scene" + (props.diff && props.diff.reason ? ": " + props.diff.reason : ".")));
    }
    const link = plexWeb && canOpen
      ? h("a", { href: plexWebLink(plexWeb, match.rating_key), target: "_blank", rel: "noopener noreferrer", className: "plexsync-open" }, "Open in Plex Web")
      : plexWeb && canOpen === false && h("span", { className: "text-muted small plexsync-unreachable" },
        "Plex Web (" + plexWeb.url + ") is not reachable from this browser.");
    return h(Section, { title: "Plex item", className: "plexsync-item" },
      h(Facts, { rows: [
        ["Title", live ? shown(live.plex_title) : (props.diffLoading ? "…" : "—")],
        ["Library", shown((live && live.library) || (recorded && recorded.library))],
        ["File", h("code", { className: "plexsync-path" }, shown(live ? live.file : recorded.plex_file))],
        ["Item", "#" + match.rating_key],
        ["Match", confidenceText(recorded && (!live || recorded.rating_key === live.rating_key)
          ? recorded : { confidence: live.confidence, matched_by: "path" })],
      ] }),
      link);
  }

  function LastSyncSection(props) {
    const last = props.status.last_sync;
    if (!last) return null;
    const fields = Object.keys(last.fields).map((key) => [fieldName(key), shown(last.fields[key])]);
    if (last.cover) fields.push(["Cover", "uploaded"]);
    return h(Section, { title: "Last sync", className: "plexsync-last-sync" },
      h("p", null, "Written " + when(last.at) + (props.status.match ? " to Plex item #" + props.status.match.rating_key : "") + "."),
      fields.length ? h(Facts, { rows: fields }) : h("p", { className: "text-muted" }, "No field needed writing."));
  }

  // A comparison that did not reach Plex (down, or refusing the settings) is a problem, not "no match".
  const UNREACHED = { transient: true, config: true };

  function DiffSection(props) {
    const diff = props.resource.state;
    let body;
    if (diff.error) {
      body = h(Problem, { variant: "warning" }, "Could not compare with Plex: " + diff.error);
    } else if (!diff.data) {
      body = h(Spinner, null, "Comparing with Plex…");
    } else if (!diff.data.match && UNREACHED[diff.data.error_class]) {
      body = h(Problem, { variant: "warning" }, "Could not compare with Plex: " + diff.data.reason);
    } else if (!diff.data.match) {
      body = h("p", { className: "text-muted" }, "Nothing to compare: " + (diff.data.reason || "no Plex item matches."));
    } else {
      const keys = Object.keys(diff.data.changes || {});
      body = keys.length === 0
        ? h("p", { className: "plexsync-in-agreement" }, "Plex shows what Stash has: nothing to sync.")
        : h(Fragment, null, h("p", { className: "plexsync-differs" }, "A sync would write " + keys.length + " field(s) to Plex:"), h(Bootstrap.Table, { size: "sm", className: "plexsync-diff", responsive: true },
          h("thead", null, h("tr", null, h("th", null, "Field"), h("th", null, "In Plex now"), h("th", null, "From Stash"))),
          h("tbody", null, keys.map((key) => h("tr", { key: key, "data-field": key },
            h("td", null, fieldName(key)), h("td", { className: "plexsync-plex" }, shown(diff.data.changes[key].plex)),
            h("td", { className: "plexsync-stash" }, shown(diff.data.changes[key].stash)))))));
    }
    return h(Section, { title: "Stash and Plex now", className: "plexsync-diff-section" },
      body, diff.loading && diff.data && h(Spinner, null, "Comparing again…"));
  }

  function PlexTab(props) {
    const run = useOperation();
    const sceneId = String(props.sceneId);
    const status = useResource(run, { mode: "scene_status", scene_id: sceneId }, sceneId);
    const diff = useResource(run, { mode: "scene_diff", scene_id: sceneId }, sceneId);
    const [action, start] = useAction();
    const after = (outcome) => {
      if (outcome && outcome.status) status.replace(outcome.status);
      diff.reload();
    };
    const syncNow = () => start("Sync now", run({ mode: "sync_scene", scene_id: sceneId })).then(after);
    const retry = (id) => start("Retry", run({ mode: "retry_dead_letter", id: String(id) })).then(after);
    const refresh = () => {
      status.reload();
      diff.reload();
    };
    const data = status.state.data;
    return h("div", { className: "plexsync-tab", "data-scene": sceneId },
      h("div", { className: "plexsync-toolbar" },
        data && h(StateBadge, { state: data.state }),
        h(Bootstrap.Button, { variant: "primary", size: "sm", className: "plexsync-sync-now", disabled: !!action.busy, onClick: syncNow },
          action.busy === "Sync now" ? "Syncing…" : "Sync now"),
        h(Bootstrap.Button, { variant: "secondary", size: "sm", className: "plexsync-refresh", disabled: !!action.busy, onClick: refresh }, "Refresh"),
        h(Router.Link, { to: PAGE_PATH, className: "plexsync-page-link small" }, "PlexSync page")),
      h(Outcome, { action: action }),
      status.state.error && h(Problem, null, "PlexSync could not read this scene's state: " + status.state.error),
      !data && !status.state.error && h(Spinner, null, "Reading PlexSync's records…"),
      data && h(QueueSection, { status: data, onRetry: retry, busy: action.busy }),
      h(PlexItemSection, { status: data, diff: diff.state.data, diffLoading: diff.state.loading }),
      data && h(LastSyncSection, { status: data }),
      h(DiffSection, { resource: diff }));
  }

  function sceneIdOf(props) {
    if (props && props.scene && props.scene.id) return props.scene.id;
    const match = /\/scenes\/(\d+)/.exec(window.location.pathname);
    return match ? match[1] : null;
  }

  function GuardedTab(props) {
    if (!props.sceneId) return h(Problem, null, "PlexSync could not tell which scene this is.");
    return h(Guard, { what: "Plex tab" }, h(PlexTab, { sceneId: props.sceneId }));
  }

  // ----------------------------------------------------------------------------------------- the page

  function Counter(props) {
    return h("div", { className: "plexsync-counter", "data-counter": props.name },
      h("div", { className: "plexsync-counter-value" }, props.value), h("div", { className: "plexsync-counter-label" }, props.label));
  }

  function QueueCard(props) {
    const s = props.status;
    return h(Section, { title: "Queue", className: "plexsync-card" },
      h("div", { className: "plexsync-counters" },
        h(Counter, { name: "pending", value: s.pending, label: "waiting" }),
        s.held !== undefined && h(Counter, { name: "held", value: s.held, label: "held by an outage" }),
        h(Counter, { name: "in_retry", value: s.in_retry, label: "waiting for a retry" }),
        h(Counter, { name: "dead_letters", value: s.dead_letters, label: "dead letters" }),
        h(Counter, { name: "synced_today", value: s.synced_today, label: "synced today" })),
      h(Facts, { rows: [
        ["Next retry", when(s.next_retry_at)],
        ["Worker", s.worker.running ? "running (pid " + s.worker.pid + ")" : "not running (starts when work arrives)"],
        ["Last sync", when(s.last_sync_at)],
        ["Synced in all", String(s.synced_total)],
      ] }));
  }

  function breakerRow(name, breaker) {
    if (!breaker) return [name, "—"];
    const variant = breaker.state === "closed" ? "success" : "warning";
    const kind = breaker.state !== "closed" && breaker.kind ? " (" + breaker.kind + ")" : "";
    return [name, h("span", null, h(Bootstrap.Badge, { variant: variant, "data-breaker": breaker.state }, breaker.state.replace("_", "-") + kind),
      breaker.state !== "closed" && breaker.retry_at ? " next check " + when(breaker.retry_at) : "",
      breaker.last_error && breaker.state !== "closed" ? " — " + breaker.last_error : "")];
  }

  function BreakersCard(props) {
    const s = props.status;
    const outage = s.last_outage;
    return h(Section, { title: "Circuit breakers", className: "plexsync-card plexsync-breakers" },
      h(Facts, { rows: [
        breakerRow("Plex", s.breaker),
        breakerRow("Stash", s.stash_breaker),
        ["Last outage", outage
          ? when(outage.started_at) + (outage.ended_at ? " to " + when(outage.ended_at) : " (ongoing)") + ", " + outage.duration_s + " s: " + shown(outage.last_error)
          : "none recorded"],
      ] }));
  }

  function Chart(props) {
    const hours = props.hours;
    const width = 720, height = 120, top = 6, bottom = 2;
    const peak = Math.max(1, ...hours.map((hour) => hour.synced));
    const total = hours.reduce((sum, hour) => sum + hour.synced, 0);
    const step = width / Math.max(1, hours.length);
    const bars = hours.map((hour, index) => {
      const tall = (hour.synced / peak) * (height - top - bottom);
      const start = new Date(hour.hour);
      return h("rect", { key: hour.hour, x: index * step + 1, y: height - bottom - tall, width: Math.max(1, step - 2), height: tall,
        className: "plexsync-bar", "data-synced": hour.synced },
        h("title", null, start.toLocaleString() + ": " + hour.synced + " synced"));
    });
    // Day labels are HTML under the bars: the SVG stretches to the card's width, text must not.
    const ticks = hours.map((hour, index) => [new Date(hour.hour), index]).filter((pair) => pair[0].getHours() === 0)
      .map((pair) => h("span", { key: pair[1], className: "plexsync-tick", style: { left: (100 * pair[1] / hours.length) + "%" } },
        pair[0].toLocaleDateString(undefined, { weekday: "short", day: "numeric" })));
    const label = "Syncs per hour over the last " + CHART_DAYS + " days: " + total + " in all, at most " + peak + " in one hour";
    return h("figure", { className: "plexsync-chart" },
      h("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": label, preserveAspectRatio: "none" },
        h("line", { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, className: "plexsync-axis" }), bars),
      h("div", { className: "plexsync-ticks" }, ticks),
      h("figcaption", { className: "text-muted small" }, total + " scenes synced in the last " + CHART_DAYS + " days; busiest hour " + (total ? peak : 0) + "."));
  }

  function ConfirmButton(props) {
    const [asking, setAsking] = React.useState(false);
    if (!asking) {
      return h(Bootstrap.Button, { size: "sm", variant: props.variant, disabled: props.disabled, className: props.className,
        onClick: () => setAsking(true) }, props.children);
    }
    return h("span", { className: "plexsync-confirm" }, props.question + " ",
      h(Bootstrap.Button, { size: "sm", variant: "danger", className: props.className + "-yes",
        onClick: () => { setAsking(false); props.onConfirm(); } }, "Yes"), " ",
      h(Bootstrap.Button, { size: "sm", variant: "secondary", onClick: () => setAsking(false) }, "No"));
  }

  function LetterRow(props) {
    const letter = props.letter;
    const what = letter.scene_id ? h(Router.Link, { to: "/scenes/" + letter.scene_id }, "scene " + letter.scene_id) : letter.job;
    return h("tr", { "data-letter": letter.id },
      h("td", null, what), h("td", { className: "text-nowrap" }, letter.error_class.replace("_", " ")),
      h("td", null, h("div", null, letter.reason), h("div", { className: "plexsync-letter-remedy small" }, "Fix: " + letter.remedy)),
      h("td", { className: "text-nowrap small" }, when(letter.failed_at)),
      h("td", { className: "text-nowrap" },
        h(Bootstrap.Button, { size: "sm", variant: "warning", className: "plexsync-row-retry", disabled: props.busy,
          onClick: () => props.onRetry(letter.id) }, "Retry"), " ",
        h(Bootstrap.Button, { size: "sm", variant: "outline-secondary", className: "plexsync-row-clear", disabled: props.busy,
          onClick: () => props.onClear(letter.id) }, "Clear")));
  }

  function LettersCard(props) {
    const letters = props.letters, total = props.total;
    const heading = h("div", { className: "plexsync-card-actions" },
      h(ConfirmButton, { variant: "warning", className: "plexsync-retry-all", disabled: props.busy || !total,
        question: "Queue all " + total + " again?", onConfirm: props.onRetryAll }, "Retry all"), " ",
      h(ConfirmButton, { variant: "outline-danger", className: "plexsync-clear-all", disabled: props.busy || !total,
        question: "Delete all " + total + "?", onConfirm: props.onClearAll }, "Clear all"));
    const table = letters.length === 0
      ? h("p", { className: "text-muted plexsync-no-letters" }, "No dead letters: nothing PlexSync gave up on.")
      : h(Bootstrap.Table, { size: "sm", className: "plexsync-letters-table", responsive: true },
        h("thead", null, h("tr", null, ["What", "Class", "Reason and fix", "Failed", ""].map((title) => h("th", { key: title }, title)))),
        h("tbody", null, letters.map((letter) => h(LetterRow, { key: letter.id, letter: letter, busy: props.busy,
          onRetry: props.onRetry, onClear: props.onClear }))));
    return h(Section, { title: "Dead letters", className: "plexsync-card plexsync-dead-letters" }, heading, table,
      total > letters.length && h("p", { className: "text-muted small" }, "Showing the newest " + letters.length + " of " + total + "."));
  }

  const CLASS_NAMES = {
    in_sync: "in sync", stale: "stale", plex_drifted: "changed in Plex", never_synced: "never synced",
    missing_in_plex: "missing in Plex", ambiguous: "ambiguous", awaiting_metadata: "awaiting metadata",
  };

  function ReconcileCard(props) {
    const last = props.last;
    if (!last) {
      return h(Section, { title: "Last reconcile", className: "plexsync-card plexsync-reconcile" },
        h("p", { className: "text-muted" }, "No reconcile has run yet: run a \"Reconcile gaps\" task in Settings > Tasks."));
    }
    const examples = last.examples || {};
    return h(Section, { title: "Last reconcile", className: "plexsync-card plexsync-reconcile" },
      h("p", null, when(last.at) + ", scope " + last.scope + (last.dry_run ? " (dry run)" : "") + ": " + last.queued + " queued."),
      h(Bootstrap.Table, { size: "sm", className: "plexsync-classes" },
        h("tbody", null, Object.keys(CLASS_NAMES).map((name) => h("tr", { key: name, "data-class": name },
          h("td", null, CLASS_NAMES[name]), h("td", { className: "text-right" }, shown(last[name])),
          h("td", null, (examples[name] || []).length > 0 && h("details", null,
            h("summary", null, "examples"), h("ul", { className: "small" }, examples[name].map((text, i) => h("li", { key: i }, text))))))))));
  }

  function HealthCard(props) {
    const health = props.health;
    const button = h(Bootstrap.Button, { size: "sm", variant: "secondary", className: "plexsync-run-health", disabled: props.busy,
      onClick: props.onRun }, props.running ? "Checking…" : "Run health check");
    if (!health) {
      return h(Section, { title: "Health", className: "plexsync-card plexsync-health" },
        h("p", { className: "text-muted" }, "Not checked yet."), button);
    }
    return h(Section, { title: "Health", className: "plexsync-card plexsync-health" },
      h("p", null, (health.ok ? "All links work" : "Something needs fixing") + " (checked " + when(health.checked_at) + ")."),
      h("ul", { className: "list-unstyled plexsync-checks" }, health.checks.map((check) =>
        h("li", { key: check.name, "data-check": check.name, "data-ok": String(check.ok) },
          h(Bootstrap.Badge, { variant: check.ok ? "success" : "danger" }, check.ok ? "OK" : "FAIL"), " ",
          h("strong", null, check.name), ": ", check.detail))),
      button);
  }

  function PlexSyncPage() {
    const run = useOperation();
    const overview = useResource(run, { mode: "overview", days: String(CHART_DAYS) }, "overview");
    const [action, start] = useAction();
    const act = (name, args, describe) => start(name, run(args).then((output) => ({
      result: output.result || "info", line: describe ? describe(output) : output.line,
    }))).then(() => overview.reload());
    const data = overview.state.data;
    const busy = !!action.busy;
    const handlers = {
      onRetry: (id) => act("Retry", { mode: "retry_dead_letter", id: String(id) }),
      onClear: (id) => act("Clear", { mode: "dlq_clear", id: String(id) }, (out) => out.deleted + " dead letter deleted."),
      onRetryAll: () => act("Retry all", { mode: "dlq_retry" }, (out) => out.requeued + " dead letters queued again; the background worker takes them."),
      onClearAll: () => act("Clear all", { mode: "dlq_clear" }, (out) => out.deleted + " dead letters deleted."),
    };
    const runHealth = () => act("Health check", { mode: "health" }, (out) => out.ok ? "Health check: every link works." : "Health check: something needs fixing (see Health).");
    return h("div", { className: "plexsync-page container-fluid" },
      h("div", { className: "plexsync-page-header" },
        h("h2", null, "PlexSync"),
        h(Bootstrap.Button, { size: "sm", variant: "secondary", className: "plexsync-refresh", disabled: overview.state.loading,
          onClick: () => overview.reload() }, overview.state.loading && data ? "Refreshing…" : "Refresh")),
      h(Outcome, { action: action }),
      data && data.status.misconfigured && h(Problem, { variant: "warning" },
        "The background worker stopped on a setting: " + data.status.misconfigured + " (Settings > Plugins > PlexSync)."),
      overview.state.error && h(Problem, null, "PlexSync could not read its state: " + overview.state.error),
      !data && !overview.state.error && h(Spinner, null, "Reading PlexSync's records…"),
      data && h("div", { className: "plexsync-grid" },
        h(QueueCard, { status: data.status }),
        h(BreakersCard, { status: data.status }),
        h(Section, { title: "Syncs per hour", className: "plexsync-card plexsync-wide" }, h(Chart, { hours: data.syncs_per_hour })),
        h(LettersCard, Object.assign({ letters: data.dead_letters, total: data.status.dead_letters, busy: busy }, handlers)),
        h(ReconcileCard, { last: data.last_reconcile }),
        h(HealthCard, { health: data.health, busy: busy, running: action.busy === "Health check", onRun: runHealth })));
  }

  function GuardedPage() {
    return h(Guard, { what: "page" }, h(PlexSyncPage));
  }

  // ------------------------------------------------------------------------------------ registration

  // Register everything once, at load time (patches are keyed by name; Stash applies them on render).
  PAGE_PATHS.forEach((path) => api.register.route(path, GuardedPage));

  // Patch functions return the new argument list; keep every argument and every prop (so other
  // plugins' patches still get ``scene``) and only add to ``children``.
  function withChild(args, child) {
    const props = args[0] || {};
    return [Object.assign({}, props, { children: h(Fragment, null, props.children, child) })].concat(Array.prototype.slice.call(args, 1));
  }

  api.patch.before("ScenePage.Tabs", function () {
    return withChild(arguments, h(Bootstrap.Nav.Item, { key: TAB_KEY }, h(Bootstrap.Nav.Link, { eventKey: TAB_KEY, className: "plexsync-tab-link" }, "Plex")));
  });

  api.patch.before("ScenePage.TabContent", function () {
    const sceneId = sceneIdOf(arguments[0]);
    return withChild(arguments, h(Bootstrap.Tab.Pane, { key: TAB_KEY, eventKey: TAB_KEY, mountOnEnter: true }, h(GuardedTab, { sceneId: sceneId })));
  });

  api.patch.before("MainNavBar.UtilityItems", function () {
    return withChild(arguments, h(Router.NavLink, { key: "plexsync", to: PAGE_PATH, className: "nav-utility plexsync-nav" },
      h(Bootstrap.Button, { className: "minimal d-flex align-items-center h-100", title: "PlexSync: queue, dead letters, health" }, "PlexSync")));
  });

  // After-patches get React's arguments plus the rendered result, last (patch.tsx).
  api.patch.after("PluginSettings", function () {
    const props = arguments[0] || {};
    const result = arguments[arguments.length - 1];
    if (props.pluginID !== PLUGIN_ID) return result;
    return h(Fragment, null, h("div", { className: "plexsync-settings-link" },
      h(Router.Link, { to: PAGE_PATH }, "Open the PlexSync page"), ": the queue, dead letters, circuit breakers, reconcile and health."), result);
  });
})();
