// The page's start: the key (session storage only), the sections, and what each loads.

import { setUpAdvisor, loadAdvisor } from "./advisor.js";
import { call, keys } from "./api.js";
import { loadModels, setUpChat } from "./chat.js";
import { loadAdapters, setUpConsole } from "./console.js";
import { byId, say } from "./dom.js";

function showPanel(panelId) {
  for (const tab of document.querySelectorAll(".tab")) {
    const current = tab.dataset.panel === panelId;
    if (current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
    byId(tab.dataset.panel).hidden = !current;
  }
}

function signedOut(message = "") {
  byId("tabs").hidden = true;
  byId("welcome").hidden = false;
  byId("key-forget").hidden = true;
  byId("key-entry").hidden = false;
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
  say(byId("key-status"), message, message ? "error" : "");
}

async function signIn() {
  const me = await call("GET", "/v1/me");
  const admin = me.role === "admin";
  byId("welcome").hidden = true;
  byId("tabs").hidden = false;
  byId("key-forget").hidden = false;
  byId("key-entry").hidden = true;
  byId("console-tab").hidden = !admin;
  say(byId("key-status"), `Signed in with a${admin ? "n admin" : " user"} key (${me.fingerprint.slice(0, 8)}).`, "ok");
  showPanel("chat-panel");
  await Promise.all([loadModels(), loadAdvisor(), admin ? loadAdapters() : null]);
}

async function useKey(key) {
  keys.set(key);
  try {
    await signIn();
  } catch (error) {
    keys.forget();
    signedOut(error.status === 401 ? "That key was refused: check it and try again." : error.message);
  }
}

function setUpKeys() {
  byId("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = byId("key-input");
    const key = input.value.trim();
    input.value = "";
    if (!key) return say(byId("key-status"), "Enter a key first.", "error");
    await useKey(key);
  });
  byId("key-forget").addEventListener("click", () => {
    keys.forget();
    signedOut("Key forgotten in this tab.");
    byId("key-input").focus();
  });
}

function setUpTabs() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      showPanel(tab.dataset.panel);
      if (tab.dataset.panel === "console-panel") loadAdapters().catch((error) => say(byId("console-status"), error.message, "error"));
      if (tab.dataset.panel === "chat-panel") loadModels().catch(() => {});
    });
  }
}

setUpKeys();
setUpTabs();
setUpChat();
setUpAdvisor();
setUpConsole();
if (keys.get()) useKey(keys.get());
