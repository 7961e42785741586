/* Server-Sent Events read from a fetch() body. EventSource cannot send X-User-Id or an
   Authorization header, so the page reads the stream itself and parses it here, as the
   HTML standard's event-stream interpretation says: lines end with CRLF, LF or CR (a chunk
   may end between CR and LF); "data" lines join with "\n"; "event" names the type
   ("message" by default); "id" sets the last event id (kept across events); lines starting
   with ":" are comments; a blank line dispatches the event, if it has data. "retry" is
   ignored: the page decides itself when to reconnect. */
"use strict";

window.shopSse = (() => {
  function createParser(onEvent) {
    let buffer = "";
    let data = [];
    let type = "";
    let lastEventId = "";

    function line(text) {
      if (text === "") {
        if (data.length) onEvent({ type: type || "message", data: data.join("\n"), id: lastEventId });
        data = [];
        type = "";
        return;
      }
      if (text.startsWith(":")) return;
      const colon = text.indexOf(":");
      const field = colon < 0 ? text : text.slice(0, colon);
      let value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") type = value;
      else if (field === "id" && !value.includes("\0")) lastEventId = value;
    }

    return {
      /** Feed decoded text as it arrives; complete events are passed to onEvent. */
      feed(chunk) {
        buffer += chunk;
        for (;;) {
          const end = buffer.search(/[\r\n]/);
          // No whole line yet, or a CR that may be the first half of a CRLF.
          if (end < 0 || (buffer[end] === "\r" && end === buffer.length - 1)) return;
          const text = buffer.slice(0, end);
          buffer = buffer.slice(buffer.startsWith("\r\n", end) ? end + 2 : end + 1);
          line(text);
        }
      },
      get lastEventId() {
        return lastEventId;
      },
    };
  }

  return { createParser };
})();
