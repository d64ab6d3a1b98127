// Passkeys (WebAuthn) for Tessera's pages: no framework, no build step. Each passkey form has
// class "passkey" and action ".../start"; the ceremony ends at ".../finish". Options and answers
// travel as JSON with base64url for binary fields; the CSRF token is the form's own hidden field.
// Without JavaScript these forms do nothing and the password forms still work.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const clean = (o) => { for (const k of Object.keys(o)) if (o[k] === null) delete o[k]; return o; };

  async function post(url, csrf, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin", redirect: "follow",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (r.redirected) { window.location.assign(r.url); return null; }
    const data = r.headers.get("content-type")?.includes("json") ? await r.json() : {};
    if (!r.ok) throw new Error(data.detail || "The passkey could not be used.");
    return data;
  }

  async function register(start, finish, csrf, extra) {
    const { options } = await post(start, csrf, extra);
    const pk = clean(options.publicKey);
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    // A discoverable credential, so the passkey can also sign in without a password.
    pk.authenticatorSelection = Object.assign({}, pk.authenticatorSelection,
      { residentKey: "required", requireResidentKey: true });
    const c = await navigator.credentials.create({ publicKey: pk });
    return post(finish, csrf, {
      name: extra.name,
      credential: {
        id: c.id, rawId: enc(c.rawId), type: c.type,
        response: {
          attestationObject: enc(c.response.attestationObject),
          clientDataJSON: enc(c.response.clientDataJSON),
        },
      },
    });
  }

  async function authenticate(start, finish, csrf, extra) {
    const { options } = await post(start, csrf, {});
    const pk = clean(options.publicKey);
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const a = await navigator.credentials.get({ publicKey: pk });
    return post(finish, csrf, {
      return_to: extra.return_to,
      credential: {
        id: a.id, rawId: enc(a.rawId), type: a.type,
        response: {
          authenticatorData: enc(a.response.authenticatorData),
          clientDataJSON: enc(a.response.clientDataJSON),
          signature: enc(a.response.signature),
          userHandle: a.response.userHandle ? enc(a.response.userHandle) : null,
        },
      },
    });
  }

  for (const form of document.querySelectorAll("form.passkey")) {
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = form.querySelector(".passkey-status");
      const field = (n) => form.elements.namedItem(n)?.value ?? "";
      const start = form.action;
      const finish = start.replace(/\/start$/, "/finish");
      const csrf = field("csrf_token");
      const extra = { name: field("name"), current_password: field("current_password"), return_to: field("return_to") };
      if (status) status.textContent = "";
      try {
        await (form.dataset.ceremony === "register" ? register : authenticate)(start, finish, csrf, extra);
      } catch (e) {
        if (status) status.textContent = e.name === "NotAllowedError" ? "The passkey request was cancelled." : e.message;
      }
    });
  }
})();
