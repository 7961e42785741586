/* The shop's page: it calls the public API as any client does (docs/api.md), names the
   caller with X-User-Id or a bearer token (the gateway's GATEWAY_AUTH, in the body's
   data-auth-mode), shows every error as the API words it (problem details: title, detail,
   field errors) and follows each NEW order live until it is FINISHED or CANCELLED. */
"use strict";

(() => {
  const TERMINAL = new Set(["FINISHED", "CANCELLED"]);
  const LONG_POLL_SECONDS = 25; // the API allows up to 30
  // A browser keeps about six HTTP/1.1 connections per host, and each followed order holds
  // one: the others wait for a free slot, so the page's own calls are never starved.
  const MAX_FOLLOWED = 3;
  const mode = document.body.dataset.authMode === "jwt" ? "jwt" : "header";
  const $ = (id) => document.getElementById(id);

  let credential = null; // the user id or the token, kept in memory only
  let session = new AbortController(); // aborted when the identity changes
  const shown = new Map(); // order id -> the order as last shown
  const following = new Set(); // ids of the orders followed or waiting for a slot
  let followed = 0;
  const waiting = [];

  class ApiError extends Error {
    constructor(status, problem) {
      super(problem.detail || problem.title);
      this.status = status;
      this.problem = problem;
    }
  }

  function randomHex(bytes) {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain HTTP too.
    return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
  }

  function authHeaders() {
    return mode === "jwt" ? { Authorization: `Bearer ${credential}` } : { "X-User-Id": credential };
  }

  async function errorOf(response) {
    const text = await response.text();
    try {
      const problem = JSON.parse(text);
      if (problem && typeof problem === "object" && problem.title) return new ApiError(response.status, problem);
    } catch {
      // not JSON: the HTTP server's own answer (414, 431), described by its status
    }
    return new ApiError(response.status, { title: `${response.status} ${response.statusText}`.trim() });
  }

  async function api(method, path, { body, idempotent = false, signal = session.signal } = {}) {
    const headers = authHeaders();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // A key per submission: a retry of this request would have no second effect.
    if (idempotent) headers["Idempotency-Key"] = `page-${randomHex(16)}`;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, { title: "Network error", detail: "The gateway could not be reached." });
    }
    if (!response.ok) throw await errorOf(response);
    return response.status === 204 ? null : response.json();
  }

  // Errors, as the API words them.

  function showError(box, error, form) {
    if (error.name === "AbortError") return;
    box.replaceChildren();
    const problem = error instanceof ApiError ? error.problem : { title: "Error", detail: String(error.message || error) };
    const heading = document.createElement("p");
    heading.textContent = [problem.title, problem.detail].filter(Boolean).join(": ");
    box.append(heading);
    const fields = problem.errors && typeof problem.errors === "object" ? Object.entries(problem.errors) : [];
    if (fields.length) {
      const list = document.createElement("ul");
      for (const [field, messages] of fields) {
        const item = document.createElement("li");
        item.textContent = `${field}: ${[].concat(messages).join(" ")}`;
        list.append(item);
        const input = form && form.elements.namedItem(field);
        if (input) input.setAttribute("aria-invalid", "true");
      }
      box.append(list);
    }
  }

  function clearError(box, form) {
    box.replaceChildren();
    if (form) form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  }

  function announce(message) {
    $("announcer").textContent = message;
  }

  /** Runs a form's or button's action with its control disabled, its errors shown in box. */
  async function act(control, box, form, action) {
    clearError(box, form);
    control.disabled = true;
    try {
      await action();
    } catch (error) {
      showError(box, error, form);
    } finally {
      control.disabled = false;
    }
  }

  // The account.

  function showBalance(account) {
    $("balance").textContent = account ? account.balance : "no account yet";
    if (account) $("identity").textContent = `You are user ${account.user_id}.`;
  }

  async function refreshBalance() {
    try {
      showBalance(await api("GET", "/accounts/balance"));
    } catch (error) {
      if (error instanceof ApiError && error.problem.type === "urn:problem:account-not-found") showBalance(null);
      else throw error;
    }
  }

  // Orders.

  function describeStatus(order) {
    if (order.status !== "CANCELLED") return order.status;
    return `CANCELLED (${(order.reason || "no reason given").replaceAll("_", " ")})`;
  }

  function show(order) {
    const previous = shown.get(order.id);
    shown.set(order.id, order);
    let item = document.getElementById(`order-${order.id}`);
    if (!item) {
      item = document.createElement("li");
      item.id = `order-${order.id}`;
      for (const part of ["description", "amount", "status"]) {
        const span = document.createElement("span");
        span.className = part;
        item.append(span);
      }
      $("orders").prepend(item);
    }
    item.dataset.status = order.status;
    item.querySelector(".description").textContent = order.description || "(no description)";
    item.querySelector(".amount").textContent = order.amount;
    const status = item.querySelector(".status");
    status.className = `status status-${order.status}`;
    status.textContent = describeStatus(order);
    $("orders-empty").hidden = shown.size > 0;
    return previous;
  }

  function update(order) {
    const previous = show(order);
    if (TERMINAL.has(order.status) && (!previous || previous.status !== order.status)) {
      announce(`Order "${order.description}" (${order.amount}): ${describeStatus(order)}.`);
      refreshBalance().catch((error) => showError($("account-error"), error));
    }
  }

  async function refreshOrders() {
    const orders = await api("GET", "/orders");
    for (const order of orders.slice().reverse()) {
      show(order);
      if (!TERMINAL.has(order.status)) follow(order.id);
    }
  }

  // Live status: the order's event stream, with the long-poll when the stream fails.

  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });

  /** The order's status events until the terminal one; the last order seen, or null. */
  async function viaStream(id, signal, onOrder) {
    const response = await fetch(`/orders/${encodeURIComponent(id)}/events`, {
      headers: { ...authHeaders(), Accept: "text/event-stream" },
      signal,
      cache: "no-store",
    });
    if (!response.ok) throw await errorOf(response);
    if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
      throw new ApiError(response.status, { title: "Not an event stream" });
    }
    let latest = null;
    const parser = window.shopSse.createParser((event) => {
      if (event.type !== "status") return;
      latest = JSON.parse(event.data);
      onOrder(latest);
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      while (!(latest && TERMINAL.has(latest.status))) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    return latest;
  }

  // Refusals that no retry will change: the order is not the caller's, or the caller is
  // not accepted (a bad id or token).
  const FINAL_PROBLEMS = new Set(["order-not-found", "authentication-required", "invalid-token"]);
  const isFinal = (error) =>
    error.name === "AbortError" ||
    (error instanceof ApiError && FINAL_PROBLEMS.has(String(error.problem.type).replace("urn:problem:", "")));

  async function untilTerminal(id, signal) {
    for (let failures = 0; !signal.aborted; ) {
      let order = null;
      try {
        order = await viaStream(id, signal, update);
      } catch (error) {
        if (isFinal(error)) throw error;
        try {
          order = await api("GET", `/orders/${encodeURIComponent(id)}?wait=${LONG_POLL_SECONDS}`, { signal });
          update(order);
        } catch (pollError) {
          if (isFinal(pollError)) throw pollError;
          failures += 1;
          await sleep(Math.min(10000, 500 * 2 ** failures), signal); // 1 s, 2 s, ... 10 s
          continue;
        }
      }
      if (order && TERMINAL.has(order.status)) return;
      failures = 0;
    }
  }

  function follow(id) {
    if (following.has(id)) return;
    following.add(id);
    waiting.push({ id, signal: session.signal });
    nextFollow();
  }

  function nextFollow() {
    while (followed < MAX_FOLLOWED && waiting.length) {
      const { id, signal } = waiting.shift();
      if (signal.aborted) continue;
      followed += 1;
      untilTerminal(id, signal)
        .catch((error) => showError($("orders-error"), error))
        .finally(() => {
          if (!signal.aborted) following.delete(id);
          followed -= 1;
          nextFollow();
        });
    }
  }

  // Who the caller is.

  function useIdentity(value) {
    session.abort(); // the previous user's requests and followed orders stop
    session = new AbortController();
    waiting.length = 0;
    following.clear();
    credential = value;
    shown.clear();
    $("orders").replaceChildren();
    $("orders-empty").hidden = false;
    for (const id of ["account-error", "order-error", "orders-error"]) clearError($(id));
    const identity = $("identity");
    identity.textContent = mode === "jwt" ? "Using the pasted token." : `You are user ${value}.`;
    return Promise.all([refreshBalance(), refreshOrders()]).then(() => {
      identity.hidden = false;
      $("shop").hidden = false;
    });
  }

  function onSubmit(form, box, action) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form.querySelector("button[type=submit]"), box, form, () => action(form));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("no-script").remove();
    const identityForm = $("identity-form");
    onSubmit(identityForm, $("identity-error"), (form) => {
      const field = form.elements.namedItem(mode === "jwt" ? "token" : "user_id");
      return useIdentity(field.value.trim()).catch((error) => {
        $("shop").hidden = true;
        $("identity").hidden = true;
        throw error;
      });
    });
    const random = $("random-user");
    if (random) {
      random.addEventListener("click", () => {
        $("user-id").value = `user-${randomHex(8)}`;
        $("user-id").focus();
      });
    }

    $("open-account").addEventListener("click", (event) =>
      act(event.currentTarget, $("account-error"), null, async () => {
        showBalance(await api("POST", "/accounts"));
        announce("Account opened.");
      }),
    );

    onSubmit($("deposit-form"), $("account-error"), async (form) => {
      const amount = form.elements.namedItem("amount").value.trim();
      const account = await api("POST", "/accounts/deposit", { body: { amount }, idempotent: true });
      showBalance(account);
      announce(`Topped up by ${amount}: the balance is ${account.balance}.`);
      form.reset();
    });

    onSubmit($("order-form"), $("order-error"), async (form) => {
      const body = {
        amount: form.elements.namedItem("amount").value.trim(),
        description: form.elements.namedItem("description").value,
      };
      const order = await api("POST", "/orders", { body, idempotent: true });
      show(order);
      announce(`Order "${order.description}" placed (${order.amount}): ${order.status}.`);
      form.reset();
      if (!TERMINAL.has(order.status)) follow(order.id);
    });

    $("refresh-orders").addEventListener("click", (event) =>
      act(event.currentTarget, $("orders-error"), null, async () => {
        await Promise.all([refreshBalance(), refreshOrders()]);
      }),
    );
  });
})();
