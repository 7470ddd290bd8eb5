// Talking to the designer's admin endpoints: same-origin JSON POSTs carrying Django's CSRF token.

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/**
 * POST `payload` (JSON-encoded unless opts.raw, when it is already JSON text) and return
 * {ok, status, body}; never throws: a network failure is {ok: false, status: 0}.
 */
export async function postJson(url, payload, opts = {}) {
  try {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: opts.raw ? payload : JSON.stringify(payload ?? {}),
    });
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    return { ok: response.ok, status: response.status, body };
  } catch (exc) {
    return { ok: false, status: 0, body: { message: String(exc) } };
  }
}
