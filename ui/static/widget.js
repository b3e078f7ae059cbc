/* newsrag widget: <script src="https://HOST/widget.js" async></script> adds a chat button and
 * panel that ask HOST/api/ask/stream. Everything lives in a Shadow DOM; data is only ever set
 * with textContent (never innerHTML), so article text and answers cannot run code here. */
(function () {
  "use strict";
  var script = document.currentScript || Array.prototype.slice
    .call(document.querySelectorAll("script[src]"))
    .filter(function (s) { return /\/widget\.js([?#].*)?$/.test(s.src); }).pop();
  if (!script) return;
  var BASE = script.src.replace(/\/widget\.js([?#].*)?$/, "");  // the API lives beside the script
  var INLINE = script.getAttribute("data-mode") === "inline";
  var API_KEY = script.getAttribute("data-api-key") ||
    (INLINE ? new URLSearchParams(location.search).get("key") : null);
  var TITLE = script.getAttribute("data-title") || "Ask the news";
  var AS_OF = script.getAttribute("data-as-of") ||
    (INLINE ? new URLSearchParams(location.search).get("as_of") : null) || null;
  var MAX_TURNS = 6;

  var CSS = [
    ":host{all:initial!important;display:block!important;position:fixed!important;",
    "right:20px!important;bottom:20px!important;left:auto!important;top:auto!important;",
    "z-index:2147483647!important;margin:0!important;padding:0!important;border:0!important;",
    "background:transparent!important;visibility:visible!important;opacity:1!important;",
    "transform:none!important;width:auto!important;height:auto!important;float:none!important}",
    ":host([data-mode=inline]){position:static!important;width:100%!important;height:100%!important}",
    "*,*::before,*::after{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    ".root{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;color:#1f2328;",
    "text-align:left;display:flex;flex-direction:column;align-items:flex-end;gap:12px;height:100%}",
    ".panel{width:min(380px,calc(100vw - 40px));height:min(560px,calc(100vh - 110px));display:flex;",
    "flex-direction:column;background:#fff;border:1px solid #d0d7de;border-radius:12px;",
    "box-shadow:0 8px 28px rgba(0,0,0,.18);overflow:hidden}",
    ":host([data-mode=inline]) .panel{width:100%;height:100%;border:0;border-radius:0;box-shadow:none}",
    ".head{display:flex;justify-content:space-between;align-items:center;padding:10px 12px;",
    "background:#0969da;color:#fff;font-weight:600}",
    ".close{background:transparent;color:#fff;font-size:20px;line-height:1;padding:0 4px}",
    ".log{flex:1;overflow-y:auto;padding:12px;background:#fff}",
    ".hint{color:#57606a;margin:0 0 10px}",
    ".msg{margin:0 0 10px;padding:8px 10px;border-radius:10px;white-space:pre-wrap;",
    "overflow-wrap:anywhere}",
    ".user{background:#0969da;color:#fff;margin-left:40px}",
    ".bot{background:#f6f8fa;color:#1f2328;margin-right:16px}",
    ".text{margin:0}",
    ".notice{font-weight:600;color:#7d4e00;margin:0 0 4px}",
    ".error{color:#cf222e;margin:0}",
    ".sources{margin:8px 0 0;padding:0 0 0 22px;font-size:12.5px;white-space:normal}",
    ".sources li{margin:0 0 4px}",
    ".meta{color:#57606a}",
    ".asof{color:#57606a;font-size:12px;margin:4px 0 0}",
    "a{color:#0969da;text-decoration:underline}",
    ".marker{text-decoration:none;font-weight:600}",
    "form{display:flex;gap:6px;padding:10px;border-top:1px solid #d0d7de;background:#fff;margin:0}",
    "input{flex:1;min-width:0;font:inherit;padding:8px 10px;border:1px solid #d0d7de;",
    "border-radius:8px;color:#1f2328;background:#fff}",
    "button{font:inherit;cursor:pointer;border:0;border-radius:8px;background:#0969da;color:#fff;",
    "padding:8px 12px}",
    "button:disabled{opacity:.6;cursor:default}",
    ".launcher{border-radius:24px;padding:12px 18px;box-shadow:0 4px 14px rgba(0,0,0,.2);",
    "font-weight:600}",
    ".foot{font-size:11px;color:#57606a;padding:0 10px 8px;background:#fff}"
  ].join("");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  function safeUrl(url) {
    try {
      var u = new URL(url);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) { return null; }
  }

  function mount() {
    var host = document.createElement("newsrag-widget");
    if (INLINE) host.setAttribute("data-mode", "inline");
    var root = host.attachShadow({ mode: "open" });
    try {  // a constructed sheet also works under a host page CSP without 'unsafe-inline'
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(el("style", null, CSS));
    }
    var wrap = el("div", "root");
    var panel = el("section", "panel");
    panel.setAttribute("role", INLINE ? "main" : "dialog");
    panel.setAttribute("aria-label", TITLE);
    var head = el("div", "head");
    head.appendChild(el("span", null, TITLE));
    var close = el("button", "close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    if (!INLINE) head.appendChild(close);
    var log = el("div", "log");
    log.setAttribute("aria-live", "polite");
    log.appendChild(el("p", "hint", "Ask a question about the news. Every answer cites its sources."));
    var form = el("form");
    var input = el("input");
    input.type = "text";
    input.name = "question";
    input.placeholder = "Ask about the news\u2026";
    input.setAttribute("aria-label", "Question");
    // no maxLength: a long question is refused by the server with its limit, not cut here
    var send = el("button", "send", "Ask");
    send.type = "submit";
    form.appendChild(input);
    form.appendChild(send);
    panel.appendChild(head);
    panel.appendChild(log);
    panel.appendChild(form);
    panel.appendChild(el("div", "foot", "Answers come only from indexed news articles."));
    var launcher = el("button", "launcher", TITLE);
    launcher.type = "button";
    launcher.setAttribute("aria-expanded", "false");
    wrap.appendChild(panel);
    if (!INLINE) wrap.appendChild(launcher);
    root.appendChild(wrap);
    panel.hidden = !INLINE;

    function toggle(open) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      if (open) input.focus();
    }
    launcher.addEventListener("click", function () { toggle(panel.hidden); });
    close.addEventListener("click", function () { toggle(false); });

    var history = [];
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var question = input.value.trim();
      if (!question || send.disabled) return;
      input.value = "";
      send.disabled = true;
      log.appendChild(el("div", "msg user", question));
      var bot = el("div", "msg bot");
      var text = el("p", "text", "\u2026");
      bot.appendChild(text);
      log.appendChild(bot);
      log.scrollTop = log.scrollHeight;
      ask(question, bot, text).catch(function (e) {
        text.remove();
        bot.appendChild(el("p", "error", String(e && e.message || e)));
      }).then(function () {
        send.disabled = false;
        log.scrollTop = log.scrollHeight;
      });
    });
    (document.body || document.documentElement).appendChild(host);

    function ask(question, bot, text) {
      var headers = { "Content-Type": "application/json", "Accept": "text/event-stream" };
      if (API_KEY) headers["X-API-Key"] = API_KEY;
      var body = { question: question, history: history.slice(-MAX_TURNS) };
      if (AS_OF) body.as_of = AS_OF;
      return fetch(BASE + "/api/ask/stream", {
        method: "POST", headers: headers, body: JSON.stringify(body), credentials: "omit"
      }).catch(function (e) {
        // the browser hides why (a refused origin looks like a network error): ask the server
        return whyUnreachable().then(function (why) { throw new Error(why); });
      }).then(function (res) {
        if (!res.ok) {
          return res.json().catch(function () { return {}; }).then(function (data) {
            var detail = typeof data.detail === "string" ? data.detail : "";
            throw new Error(detail || "The news service answered " + res.status + ".");
          });
        }
        var draft = "";
        return readEvents(res, function (name, data) {
          if (name === "delta" || name === "reset") {
            draft = name === "delta" ? draft + data.text : data.text;
            text.textContent = draft;
          } else if (name === "answer") {
            showAnswer(bot, text, data);
            history.push([question, data.answer]);
          } else if (name === "error") {
            throw new Error(data.detail || "The answer failed.");
          }
          log.scrollTop = log.scrollHeight;
        });
      });
    }
  }

  function whyUnreachable() {
    return fetch(BASE + "/api/origin", { credentials: "omit" }).then(function (res) {
      return res.json();
    }).then(function (data) {
      if (data && data.allowed === false) {
        return "This site (" + (data.origin || location.origin) + ") is not allowed to use " +
          "this news service. Its administrator can allow it by adding the site's origin to " +
          "NEWSRAG_CORS_ORIGINS on the server.";
      }
      return "The news service could not be reached. Try again in a moment.";
    }, function () {
      return "The news service at " + BASE + " could not be reached. Try again in a moment.";
    });
  }

  function asOfLabel(day) {
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(day || "");
    if (!m) return "";
    var months = ["January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December"];
    return "As of " + Number(m[3]) + " " + months[Number(m[2]) - 1] + " " + m[1] + ".";
  }

  function readEvents(res, onEvent) {
    var reader = res.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        buffer += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
        buffer = buffer.replace(/\r\n/g, "\n");
        var cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          var block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          var ev = parseBlock(block);
          if (ev) onEvent(ev.name, ev.data);
        }
        if (!chunk.done) return pump();
      });
    }
    return pump();
  }

  function parseBlock(block) {
    var name = "message", data = [];
    block.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") return;
      var i = line.indexOf(":");
      var field = i < 0 ? line : line.slice(0, i);
      var value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "event") name = value;
      else if (field === "data") data.push(value);
    });
    if (!data.length) return null;
    return { name: name, data: JSON.parse(data.join("\n")) };
  }

  // One source per article, numbered in order of first citation: two passages of one article
  // are one source, and their [n] markers one number (as the chat's cards)
  function byArticle(citations) {
    var cards = [], cardOf = {}, byId = {};
    citations.slice().sort(function (a, b) { return a.number - b.number; }).forEach(function (c) {
      var key = c.article_id || "#" + c.number;
      if (!byId[key]) { byId[key] = c; cards.push(c); }
      cardOf[c.number] = cards.indexOf(byId[key]) + 1;
    });
    return { cards: cards, cardOf: cardOf };
  }

  // A sentence that opens a quotation it does not close (the first of a quoted statement)
  // ends with "…" and the closing mark, as in the chat and `newsrag ask`
  var QUOTES = [["\u201c", "\u201d"], ["\"", "\""], ["\u00ab", "\u00bb"]];
  function closeQuotes(sentence) {
    QUOTES.forEach(function (q) {
      var opens = sentence.split(q[0]).length - 1, closes = sentence.split(q[1]).length - 1;
      if (q[0] === q[1] ? opens % 2 : opens > closes) sentence = sentence.replace(/\s+$/, "") + " \u2026" + q[1];
    });
    return sentence;
  }

  // The answer's text from its sentences (quotations closed), else as given
  function answerText(answer) {
    if (!answer.sentences || !answer.sentences.length) return String(answer.answer);
    return answer.sentences.map(function (s) {
      if (s.supported === false) return s.text + " (unverified)";
      return (closeQuotes(s.text) + " " + (s.citations || []).map(function (n) {
        return "[" + n + "]";
      }).join("")).trim();
    }).join(" ");
  }

  function showAnswer(bot, text, answer) {
    var urls = {}, grouped = byArticle(answer.citations || []), last = null;
    grouped.cards.forEach(function (c, i) { urls[i + 1] = safeUrl(c.url); });
    text.textContent = "";
    if (answer.abstained) bot.insertBefore(el("p", "notice", "Not covered by the indexed news."), text);
    // inline [n] markers become links to their source; the rest stays plain text
    answerText(answer).split(/(\[\d{1,3}\])/).forEach(function (part) {
      var m = /^\[(\d{1,3})\]$/.exec(part);
      var n = m && grouped.cardOf[m[1]];
      if (n) {
        if (n === last) return;  // "[1][2]" of one article: "[1]" once
        last = n;
        part = "[" + n + "]";
      } else if (part) {
        last = null;
      }
      var url = n && urls[n];
      if (url) {
        var a = el("a", "marker", part);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        text.appendChild(a);
      } else if (part) {
        text.appendChild(document.createTextNode(part));
      }
    });
    var when = asOfLabel(answer.as_of);
    if (when) bot.appendChild(el("p", "asof", when));
    if (!answer.citations || !answer.citations.length) return;
    var list = el("ol", "sources");
    list.setAttribute("aria-label", "Sources");
    grouped.cards.forEach(function (c, i) {
      var li = el("li");
      li.value = i + 1;
      var url = safeUrl(c.url);
      var title = c.title || "(untitled)";
      if (url) {
        var a = el("a", "source", title);
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer nofollow";
        li.appendChild(a);
      } else {
        li.appendChild(el("span", "source", title));
      }
      var meta = [c.source, (c.published || "").slice(0, 10)].filter(Boolean).join(", ");
      if (meta) li.appendChild(el("span", "meta", " \u2014 " + meta));
      list.appendChild(li);
    });
    bot.appendChild(list);
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
