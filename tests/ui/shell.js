// A stand-in for Stash's web UI, built from the libraries Stash ships (React 17, react-bootstrap 1.6,
// Apollo Client 3, react-router 5), for PlexSync's browser tests. It provides window.PluginApi the
// way ui/v2.5/src/pluginApi.tsx does, with patch.tsx's before/instead/after semantics, and renders
// the parts of Stash a plugin hooks into: the navigation bar (MainNavBar.UtilityItems), the scene
// page (ScenePage, ScenePage.Tabs and ScenePage.TabContent from v0.28; File Info and Edit panes as
// in Scene.tsx), Settings > Plugins (PluginSettings from v0.27) and the plugin routes (PluginRoutes).
// The scene comes from the fake Stash over real GraphQL; window.STASH_SHELL.version decides which
// patch points exist, as they appeared release by release (docs: stash-ui-plugins.md §6).
import React from "react";
import ReactDOM from "react-dom";
import * as Bootstrap from "react-bootstrap";
import * as Apollo from "@apollo/client";
import * as ReactRouterDOM from "react-router-dom";

const h = React.createElement;
const { Nav, Navbar, Tab, Button } = Bootstrap;
const { BrowserRouter, Switch, Route, Link, NavLink, useParams, useLocation } = ReactRouterDOM;

const version = (window.STASH_SHELL && window.STASH_SHELL.version) || "v0.30.1";
const [, minor] = version.replace(/^v/, "").split(".").map(Number);
const since = (wanted) => minor >= wanted;

// ------------------------------------------------------------------------------- patch.tsx semantics

const befores = {};
const insteads = {};
const afters = {};
const components = {};

function add(table, name, fn) {
  (table[name] = table[name] || []).push(fn);
}

function runInstead(fns, target, ctx, args) {
  let index = 1;
  const next = () => {
    if (index >= fns.length) return target;
    const fn = fns[index++];
    return (...later) => fn.apply(ctx, later.concat(next()));
  };
  return fns[0].apply(ctx, args.concat(next()));
}

function patchFunction(name, fn) {
  return new Proxy(fn, {
    apply(target, ctx, args) {
      for (const before of befores[name] || []) args = before.apply(ctx, args);
      let result = insteads[name] ? runInstead(insteads[name], target, ctx, args) : target.apply(ctx, args);
      for (const after of afters[name] || []) result = after.apply(ctx, args.concat(result));
      return result;
    },
  });
}

function patchComponent(name, fn) {
  const patched = patchFunction(name, fn);
  components[name] = patched;
  return patched;
}

function container(name) {
  return patchComponent(name, (props) => h(React.Fragment, null, props.children));
}

const plain = (props) => h(React.Fragment, null, props.children);

// ------------------------------------------------------------------------------------- the client

const client = new Apollo.ApolloClient({
  link: new Apollo.HttpLink({ uri: new URL("graphql", document.baseURI).toString() }),
  cache: new Apollo.InMemoryCache(),
});

const stashEvents = new EventTarget();
const toasts = [];

window.PluginApi = {
  React,
  ReactDOM,
  GQL: {},
  libraries: { ReactRouterDOM, Bootstrap, Apollo },
  register: {
    route(path, component) {
      add(befores, "PluginRoutes", (props) => [
        { children: h(React.Fragment, null, props.children, h(Route, { path, component })) },
      ]);
    },
    component(name, fn) {
      if (components[name]) throw new Error("Component " + name + " has already been registered");
      components[name] = fn;
      return fn;
    },
  },
  components,
  utils: { NavUtils: {}, StashService: { getClient: () => client }, loadComponents: () => Promise.resolve() },
  hooks: {
    useLoadComponents: () => false,
    useToast: () => ({ success: (message) => toasts.push(["success", message]), error: (e) => toasts.push(["error", String(e)]) }),
  },
  patch: {
    before: (name, fn) => add(befores, name, fn),
    instead: (name, fn) => add(insteads, name, fn),
    after: (name, fn) => add(afters, name, fn),
  },
  Event: stashEvents,
};

// ----------------------------------------------------------------------------------------- pages

const FIND_SCENE = Apollo.gql`
  query FindScene($id: ID!) {
    findScene(id: $id) { id title details date studio { id name } files { id path size } }
  }
`;

const UtilityItems = container("MainNavBar.UtilityItems");
const PluginRoutes = container("PluginRoutes");
const ScenePageTabs = since(28) ? container("ScenePage.Tabs") : plain;
const ScenePageTabContent = since(28) ? container("ScenePage.TabContent") : plain;

function navItem(key, title) {
  return h(Nav.Item, { key }, h(Nav.Link, { eventKey: key }, title));
}

function SceneTabs(props) {
  const { scene } = props;
  const [active, setActive] = React.useState("scene-details-panel");
  return h(Tab.Container, { activeKey: active, onSelect: (key) => key && setActive(key) },
    h("div", null, h(Nav, { variant: "tabs", className: "mr-auto" },
      h(ScenePageTabs, props,
        navItem("scene-details-panel", "Details"),
        navItem("scene-markers-panel", "Markers"),
        navItem("scene-file-info-panel", "File Info"),
        navItem("scene-history-panel", "History"),
        navItem("scene-edit-panel", "Edit")))),
    h(Tab.Content, null, h(ScenePageTabContent, props,
      h(Tab.Pane, { key: "details", eventKey: "scene-details-panel" },
        h("div", { className: "scene-details" }, h("p", null, scene.details || "No details."),
          scene.studio && h("p", null, "Studio: ", scene.studio.name), scene.date && h("p", null, "Date: ", scene.date))),
      h(Tab.Pane, { key: "markers", eventKey: "scene-markers-panel" }, "No markers."),
      h(Tab.Pane, { key: "files", eventKey: "scene-file-info-panel", className: "file-info-panel" },
        scene.files.map((file) => h("p", { key: file.id }, h("code", null, file.path)))),
      h(Tab.Pane, { key: "history", eventKey: "scene-history-panel" }, "No history."),
      h(Tab.Pane, { key: "edit", eventKey: "scene-edit-panel", mountOnEnter: true }, "Edit form."))));
}

const ScenePage = patchComponent("ScenePage", (props) =>
  h(React.Fragment, null,
    h("div", { className: "scene-tabs order-xl-first order-last col-xl-5" },
      h("div", { className: "scene-header-container" }, h("h3", { className: "scene-header" }, props.scene.title || "Untitled")),
      h(SceneTabs, props)),
    h("div", { className: "scene-player-container col-xl-7" }, h("div", { className: "scene-player" }, "▶"))));

function SceneLoader() {
  const { id } = useParams();
  const { data, loading, error } = Apollo.useQuery(FIND_SCENE, { variables: { id } });
  if (loading) return h("div", { className: "loading" }, "Loading…");
  if (error) return h("div", { className: "error" }, error.message);
  if (!data.findScene) return h("div", { className: "error" }, "No scene found with id " + id + ".");
  const scene = data.findScene;
  const noop = () => {};
  return h("div", { className: "row scene-page" }, h(ScenePage, {
    scene, setTimestamp: noop, queueScenes: [], onQueueNext: noop, onQueuePrevious: noop, onQueueRandom: noop,
    onQueueSceneClicked: noop, onDelete: noop, continuePlaylist: false, queueHasMoreScenes: false,
    onQueueMoreScenes: noop, onQueueLessScenes: noop, queueStart: 1, collapsed: false, setCollapsed: noop,
    setContinuePlaylist: noop,
  }));
}

const PluginSettings = since(27)
  ? patchComponent("PluginSettings", (props) => h("div", { className: "plugin-settings" },
    props.settings.map((setting) => h("div", { key: setting, className: "setting" }, setting))))
  : (props) => h("div", { className: "plugin-settings" });

function Settings() {
  return h("div", { className: "settings container" }, h("h2", null, "Plugins"),
    h("div", { className: "plugin-entry", "data-plugin": "PlexSync" }, h("h4", null, "PlexSync"),
      h(PluginSettings, { pluginID: "PlexSync", settings: ["Plex URL", "Plex token"] })));
}

function Home() {
  return h("div", { className: "container" }, h("h2", null, "Stash"), h(Link, { to: "/scenes/1" }, "Scene 1"));
}

function MainNavBar() {
  return h(Navbar, { bg: "dark", variant: "dark", expand: "md", className: "top-nav" },
    h(Navbar.Brand, { as: Link, to: "/" }, "Stash"),
    h(Nav, { className: "mr-md-auto" },
      h(Nav.Link, { as: NavLink, to: "/scenes/1" }, "Scenes"),
      h(Nav.Link, { as: NavLink, to: "/settings" }, "Settings")),
    h(Nav, { className: "navbar-buttons" }, h(UtilityItems, null,
      h(NavLink, { className: "nav-utility", to: "/settings" }, h(Button, { className: "minimal" }, "⚙")))));
}

function LocationEvents() {
  const location = useLocation();
  React.useEffect(() => {
    if (since(25)) stashEvents.dispatchEvent(new CustomEvent("stash:location", { detail: { data: { location } } }));
  }, [location]);
  return null;
}

function App() {
  return h(Apollo.ApolloProvider, { client },
    h(BrowserRouter, { basename: new URL(document.baseURI).pathname.replace(/\/$/, "") },
      h(LocationEvents),
      h(MainNavBar),
      h("div", { className: "main container-fluid" },
        h(Switch, null,
          h(Route, { exact: true, path: "/", component: Home }),
          h(Route, { path: "/scenes/:id", component: SceneLoader }),
          h(Route, { path: "/settings", component: Settings }),
          h(PluginRoutes, null)))));
}

window.StashShell = {
  version,
  toasts,
  start() {
    ReactDOM.render(h(App), document.getElementById("root"));
  },
};
