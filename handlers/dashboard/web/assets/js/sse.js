// Server-sent events read with fetch. EventSource cannot send an Authorization header, and
// the API takes no token in the URL (it would end up in logs), so the stream is read from a
// fetch body: the text/event-stream format is parsed here (WHATWG HTML §9.2.6), and a lost
// connection is resumed with Last-Event-ID, the last log position seen, so that no alert
// event is missed or shown twice.
import { authHeaders, refuse } from './api.js';

// Limits (a stream that breaks them is dropped and resumed).
const lineBytesMax = 1 << 20; // one event's data: an alert with its explanation is a few KiB
const retryMsDefault = 2000; // until the server says otherwise ("retry:")
const retryMsMax = 30_000; // backoff cap between reconnections

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

// streamEvents reads path as server-sent events until signal aborts. onEvent({id, type,
// data}) gets each event; onState(state) hears 'connecting', 'live', 'reconnecting',
// 'unavailable' (404: the daemon serves no alerts) or 'stopped'. onOpen() is called at each
// (re)connection, once the stream is open: the caller refreshes what it shows, so that what
// happened while disconnected is never lost even before the first event id is known.
export async function streamEvents(path, { signal, onEvent, onState, onOpen }) {
  let lastID = '';
  let retryMs = retryMsDefault;
  let failures = 0;
  onState('connecting');
  while (!signal.aborted) { // until the page that owns the stream goes away
    try {
      const headers = authHeaders({ Accept: 'text/event-stream' });
      if (lastID) headers['Last-Event-ID'] = lastID;
      const res = await fetch(path, { headers, signal, cache: 'no-store' });
      if (res.status === 401) {
        refuse('The API refused the token (401) on the alert stream.');
        onState('stopped');
        return;
      }
      if (res.status === 404 || res.status === 403) {
        onState(res.status === 404 ? 'unavailable' : 'forbidden');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`alert stream answered ${res.status}`);
      failures = 0;
      onState('live');
      if (onOpen) onOpen();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let data = [];
      let type = '';
      let id = '';
      for (;;) { // until the server closes the stream or the signal aborts the fetch
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl;
        while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
          if (buffer[nl] === '\r' && nl === buffer.length - 1) break; // a CRLF split across chunks
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1));
          if (line === '') { // dispatch
            if (id) lastID = id;
            if (data.length > 0) onEvent({ id: lastID, type: type || 'message', data: data.join('\n') });
            data = [];
            type = '';
            continue;
          }
          if (line.startsWith(':')) continue; // comment, keep-alive
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let v = colon < 0 ? '' : line.slice(colon + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'data') data.push(v);
          else if (field === 'event') type = v;
          else if (field === 'id' && !v.includes('\0')) id = v;
          else if (field === 'retry' && /^\d+$/.test(v)) retryMs = Math.min(Number(v), retryMsMax);
        }
        if (buffer.length > lineBytesMax) throw new Error('alert stream line too long');
      }
    } catch (e) {
      if (signal.aborted) break;
      if (e && e.name === 'ApiError') { // no token: the token box is up
        onState('stopped');
        return;
      }
    }
    if (signal.aborted) break;
    failures += 1;
    onState('reconnecting');
    // Exponential backoff with jitter, capped: a restarting daemon is not stampeded.
    const wait = Math.min(retryMsMax, retryMs * 2 ** Math.min(failures - 1, 4));
    await sleep(wait / 2 + Math.random() * (wait / 2), signal);
  }
  onState('stopped');
}
