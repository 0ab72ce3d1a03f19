// The page's start: the key (session storage only), the sections, and what each loads.

import { loadAdvisor, forgetAdvice, setUpAdvisor } from "./advisor.js";
import { abortCalls, call, keys } from "./api.js";
import { forgetConversation, loadModels, setUpChat } from "./chat.js";
import { forgetAdapters, loadAdapters, setUpConsole } from "./console.js";
import { forgetKeys, loadKeys, setUpKeys as setUpKeysConsole } from "./keys.js";
import { byId, say } from "./dom.js";

function showPanel(panelId) {
  for (const tab of document.querySelectorAll(".tab")) {
    const current = tab.dataset.panel === panelId;
    if (current) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
    byId(tab.dataset.panel).hidden = !current;
  }
}

// Back to the start: nothing of the previous key's work stays on the page.
function signedOut(message = "", kind = "") {
  abortCalls();
  forgetConversation();
  forgetAdvice();
  forgetAdapters();
  forgetKeys();
  byId("tabs").hidden = true;
  byId("welcome").hidden = false;
  byId("key-forget").hidden = true;
  byId("key-entry").hidden = false;
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = true;
  say(byId("key-status"), message, kind);
}

async function signIn() {
  const me = await call("GET", "/v1/me");
  const admin = me.role === "admin";
  byId("welcome").hidden = true;
  byId("tabs").hidden = false;
  byId("key-forget").hidden = false;
  byId("key-entry").hidden = true;
  byId("console-tab").hidden = !admin;
  byId("keys-tab").hidden = !admin;
  say(byId("key-status"), `Signed in with a${admin ? "n admin" : " user"} key of team ${me.team} (${me.fingerprint.slice(0, 12)}).`, "ok");
  showPanel("chat-panel");
  byId("question").focus();
  const loads = [loadModels(), loadAdvisor(), admin ? loadAdapters() : null];
  const settled = await Promise.allSettled(loads);
  const failed = settled.filter((result) => result.status === "rejected" && result.reason.name !== "AbortError");
  if (failed.length && keys.get()) say(byId("key-status"), `Signed in, but part of the page did not load: ${failed[0].reason.message}`, "warn");
}

async function useKey(key) {
  keys.set(key);
  try {
    await signIn();
  } catch (error) {
    if (error.status === 401) {  // only a refused key is forgotten: a network error or a busy gateway is not the key's fault
      keys.forget();
      signedOut("That key was refused: check it and try again.", "error");
      byId("key-input").focus();
    } else {
      say(byId("key-status"), `The gateway did not answer: ${error.message}. Reload the page to try again.`, "error");
    }
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
      if (tab.dataset.panel === "console-panel") {
        loadAdapters().catch((error) => error.name === "AbortError" || say(byId("console-status"), error.message, "error"));
      }
      if (tab.dataset.panel === "keys-panel") {
        loadKeys().catch((error) => error.name === "AbortError" || say(byId("keys-status"), error.message, "error"));
      }
      if (tab.dataset.panel === "chat-panel") loadModels().catch(() => {});
    });
  }
}

setUpKeys();
setUpTabs();
setUpChat();
setUpAdvisor();
setUpConsole();
setUpKeysConsole();
if (keys.get()) useKey(keys.get());
