// proofline pages: in-browser image encryption and upload, the waiting page,
// the error summary and the masked SSN. No inline script anywhere (the CSP
// forbids it); this file is the only script. Every text it shows comes from
// the page's message catalogue (<script type="application/json"
// id="messages">), in the page's language. It never puts a value the person
// typed into a URL.
'use strict';

(function () {
  var M = {};
  var lang = 'en';

  // t is message key with {name} placeholders filled from vars.
  function t(key, vars) {
    var s = M[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split('{' + k + '}').join(String(vars[k])); });
    return s;
  }

  function number(n, digits) {
    try { return new Intl.NumberFormat(lang, { maximumFractionDigits: digits || 0 }).format(n); } catch (e) { return String(n); }
  }

  function size(bytes) {
    if (bytes >= 1048576) return t('mb', { n: number(bytes / 1048576, 1) });
    return t('kb', { n: number(Math.max(bytes / 1024, 0.1), 1) });
  }

  function b64(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s);
  }

  // encryptImage encrypts data (ArrayBuffer or Uint8Array) with AES-256-GCM
  // under key (a CryptoKey) and iv (12 bytes); aad, when given, is bound as
  // additional data. The result is the ciphertext followed by the 16-byte tag.
  async function encryptImage(key, iv, data, aad) {
    var alg = { name: 'AES-GCM', iv: iv, tagLength: 128 };
    if (aad) alg.additionalData = aad;
    return new Uint8Array(await crypto.subtle.encrypt(alg, key, data));
  }

  // prooflineEncrypt is encryptImage with a raw key, for the test vector.
  window.prooflineEncrypt = async function (rawKey, iv, data, aad) {
    var key = await crypto.subtle.importKey('raw', new Uint8Array(rawKey), 'AES-GCM', false, ['encrypt']);
    var out = await encryptImage(key, new Uint8Array(iv), new Uint8Array(data), aad ? new TextEncoder().encode(aad) : null);
    return Array.from(out);
  };

  // upload sends the ciphertext as the capture says: a PUT of the bytes, or
  // (S3, which then refuses an oversized image itself) a POST form of the
  // given fields with the bytes last, as "file".
  function upload(up, body, onProgress, onStart) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      if (onStart) onStart(x);
      var method = up.method === 'POST' ? 'POST' : 'PUT';
      x.open(method, up.url);
      if (method === 'POST') {
        var form = new FormData();
        var fields = up.fields || {};
        Object.keys(fields).forEach(function (k) { form.append(k, fields[k]); });
        form.append('file', new Blob([body], { type: 'application/octet-stream' }), 'blob');
        body = form;
      } else {
        x.setRequestHeader('Content-Type', 'application/octet-stream');
      }
      x.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(Math.round(100 * e.loaded / e.total)); };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) return resolve();
        var err = new Error('upload answered ' + x.status);
        err.status = x.status;
        reject(err);
      };
      x.onerror = function () { reject(new Error('network error')); };
      x.onabort = function () { var err = new Error('aborted'); err.aborted = true; reject(err); };
      x.send(body);
    });
  }

  // showSummary puts an error summary of items ({id, text}) at the top of
  // the page, focuses it and marks the title, as the server does.
  function showSummary(items) {
    var old = document.getElementById('error-summary');
    if (old) old.parentNode.removeChild(old);
    var h1 = document.querySelector('main h1');
    var box = document.createElement('div');
    box.className = 'error-summary';
    box.id = 'error-summary';
    box.dataset.client = '1';
    box.tabIndex = -1;
    box.setAttribute('role', 'alert');
    box.setAttribute('aria-labelledby', 'error-summary-title');
    var h2 = document.createElement('h2');
    h2.id = 'error-summary-title';
    h2.textContent = t('summary_title');
    var ul = document.createElement('ul');
    items.forEach(function (it) {
      var li = document.createElement('li');
      var a = document.createElement('a');
      a.href = '#' + it.id;
      a.textContent = it.text;
      li.appendChild(a);
      ul.appendChild(li);
    });
    box.appendChild(h2);
    box.appendChild(ul);
    h1.parentNode.insertBefore(box, h1);
    var prefix = t('error_prefix');
    if (document.title.indexOf(prefix) !== 0) document.title = prefix + document.title;
    linkSummary(box);
    box.focus();
  }

  // clearSummary removes a summary this script showed once nothing it
  // listed is wrong any more, and the title's error prefix with it.
  function clearSummary() {
    var box = document.getElementById('error-summary');
    if (!box || box.dataset.client !== '1') return;
    box.parentNode.removeChild(box);
    var prefix = t('error_prefix');
    if (document.title.indexOf(prefix) === 0) document.title = document.title.slice(prefix.length);
  }

  // linkSummary makes each link of the summary focus its field.
  function linkSummary(box) {
    Array.prototype.forEach.call(box.querySelectorAll('a[href^="#"]'), function (a) {
      function go(e) {
        var input = document.getElementById(a.getAttribute('href').slice(1));
        if (!input) return;
        e.preventDefault();
        var label = document.querySelector('label[for="' + input.id + '"]');
        (label || input).scrollIntoView();
        input.focus({ preventScroll: true });
      }
      a.addEventListener('click', go);
      // Enter is handled at keydown, and cancelled there, so that its
      // keypress does not reach the field (and send its form).
      a.addEventListener('keydown', function (e) { if (e.key === 'Enter') go(e); });
    });
  }

  async function capture(form) {
    var submit = form.querySelector('#submit');
    var keyField = form.querySelector('#encryption_key');
    var captureField = form.querySelector('#capture_id');
    var csrf = form.querySelector('input[name=csrf_token]').value;
    var bindAAD = form.dataset.aad === '1';
    var sandbox = form.dataset.sandbox === '1';
    var maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
    var inputs = Array.prototype.slice.call(form.querySelectorAll('input[type=file][data-side]'));
    var state = {};
    var key, pending = null, current = null;
    var inFlight = {}; // side → its upload's XMLHttpRequest
    var choice = {}; // side → number of the latest choice; older ones stop
    var sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };

    function setError(side, text) {
      var el = form.querySelector('#' + side + '-error');
      el.textContent = '';
      if (text) {
        var span = document.createElement('span');
        span.className = 'visually-hidden';
        span.textContent = t('error_prefix');
        el.appendChild(span);
        el.appendChild(document.createTextNode(text));
      }
      el.hidden = !text;
      form.querySelector('#field-' + side).classList.toggle('invalid', !!text);
      var input = form.querySelector('#' + side);
      if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    }
    function setStatus(side, text) { form.querySelector('#' + side + '-status').textContent = text; }
    function fail(side, text) { state[side] = 'error'; setStatus(side, ''); setError(side, text); }

    if (!window.crypto || !crypto.subtle) {
      inputs.forEach(function (i) { fail(i.dataset.side, t('no_crypto')); });
      submit.disabled = true;
      return;
    }
    try {
      // One key per page load; it leaves the browser only in this form.
      key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
      keyField.value = b64(new Uint8Array(await crypto.subtle.exportKey('raw', key)));
    } catch (e) {
      inputs.forEach(function (i) { fail(i.dataset.side, t('key_failed')); });
      submit.disabled = true;
      return;
    }
    form.dataset.ready = '1';

    // ensureCapture asks the server for this page's capture (its upload
    // URLs) when the first photo is chosen; every side uses it. Past the
    // upload bounds the server sends the person to the busy page.
    function ensureCapture() {
      if (current) return Promise.resolve(current);
      if (!pending) {
        pending = fetch(form.dataset.captureUrl, {
          method: 'POST', credentials: 'same-origin', cache: 'no-store',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: 'csrf_token=' + encodeURIComponent(csrf)
        }).then(function (r) {
          return r.json().then(function (j) {
            if (r.ok && j.capture_id) { current = j; captureField.value = j.capture_id; return j; }
            if (j.location) window.location.assign(j.location);
            throw new Error('capture answered ' + r.status);
          });
        });
        pending.catch(function () { pending = null; });
      }
      return pending;
    }

    function acceptable(file) {
      if (/^image\//.test(file.type) || (!file.type && /\.(heic|heif)$/i.test(file.name))) return true;
      return sandbox && /\.ya?ml$/i.test(file.name);
    }

    inputs.forEach(function (input) {
      var side = input.dataset.side;
      var progress = form.querySelector('#' + side + '-progress');
      var preview = form.querySelector('#' + side + '-preview');
      input.addEventListener('change', async function () {
        var file = input.files && input.files[0];
        // A new choice replaces an upload still in flight.
        var mine = choice[side] = (choice[side] || 0) + 1;
        var stale = function () { return choice[side] !== mine; };
        if (inFlight[side]) { inFlight[side].abort(); inFlight[side] = null; }
        form.querySelector('#' + side + '_image_url').value = '';
        form.querySelector('#' + side + '_image_iv').value = '';
        progress.hidden = true;
        if (preview.src) { URL.revokeObjectURL(preview.src); preview.removeAttribute('src'); }
        preview.hidden = true;
        setError(side, '');
        setStatus(side, '');
        if (!file) { state[side] = ''; return; }
        // Checked before anything is encrypted or sent.
        if (!acceptable(file)) { fail(side, t('not_image')); return; }
        if (file.size === 0) { fail(side, t('empty')); return; }
        if (maxBytes && file.size > maxBytes) { fail(side, t('too_large', { size: size(file.size), max: size(maxBytes) })); return; }
        state[side] = 'busy';
        if (/^image\//.test(file.type)) {
          preview.src = URL.createObjectURL(file);
          preview.hidden = false;
        } else {
          setStatus(side, t('no_preview'));
        }
        var ct, iv, up;
        try {
          up = (await ensureCapture()).uploads[side];
          if (stale()) return;
        } catch (e) {
          if (stale()) return;
          fail(side, t('capture_failed'));
          return;
        }
        try {
          setStatus(side, t('encrypting'));
          iv = crypto.getRandomValues(new Uint8Array(12));
          var aad = bindAAD ? new TextEncoder().encode(current.capture_id + '/' + side) : null;
          ct = await encryptImage(key, iv, await file.arrayBuffer(), aad);
          if (stale()) return;
        } catch (e) {
          if (stale()) return;
          fail(side, t('encrypt_failed'));
          return;
        }
        progress.hidden = false;
        progress.value = 0;
        var said = 0;
        setStatus(side, t('uploading', { n: number(0) }));
        for (var attempt = 0; ; attempt++) {
          try {
            await upload(up, ct, function (p) {
              progress.value = p;
              // The status is read out: every quarter, not every event.
              if (p - said >= 25 && p < 100) { said = p - p % 25; setStatus(side, t('uploading', { n: number(said) })); }
            }, function (x) { inFlight[side] = x; });
            break;
          } catch (e) {
            if (e.aborted || stale()) return; // replaced by a newer choice
            // 429: the upload this one replaces is still closing.
            if (e.status === 429 && attempt < 4) { await sleep(500); if (stale()) return; continue; }
            progress.hidden = true;
            fail(side, t('upload_failed'));
            return;
          }
        }
        inFlight[side] = null;
        progress.value = 100;
        form.querySelector('#' + side + '_image_url').value = up.object_url || up.url;
        form.querySelector('#' + side + '_image_iv').value = b64(iv);
        state[side] = 'done';
        setStatus(side, t('uploaded'));
        if (inputs.every(function (i) { return state[i.dataset.side] === 'done'; })) clearSummary();
      });
    });
    form.addEventListener('submit', function (e) {
      var missing = [];
      inputs.forEach(function (input) {
        var side = input.dataset.side;
        if (state[side] === 'done') return;
        if (state[side] === 'busy') {
          setStatus(side, t('still_uploading'));
          missing.push({ id: side, text: t('still_uploading') });
          return;
        }
        var err = form.querySelector('#' + side + '-error');
        if (state[side] !== 'error') setError(side, t('add_' + side));
        missing.push({ id: side, text: err.textContent.replace(t('error_prefix'), '') });
      });
      if (missing.length) {
        e.preventDefault();
        showSummary(missing);
      }
    });
  }

  function waiting(el) {
    var next = el.dataset.next;
    var status = document.getElementById('wait-status');
    var bar = document.getElementById('budget');
    var leftText = document.getElementById('budget-left');
    var leftMs = parseInt(el.dataset.leftMs, 10) || 0;
    var budgetMs = parseInt(el.dataset.budgetMs, 10) || 60000;
    var start = Date.now();
    var moved = false;
    var plural;
    try { plural = new Intl.PluralRules(lang); } catch (e) { plural = { select: function (n) { return n === 1 ? 'one' : 'other'; } }; }
    function left(s) { return t(plural.select(s) === 'one' ? 'wait_left_one' : 'wait_left_other', { n: number(s) }); }
    // Progress against the time budget: the bar and the words every
    // second; screen readers hear it politely at each quarter of it.
    var quarter = Math.floor((budgetMs - leftMs) / (budgetMs / 4));
    var timer = setInterval(function () {
      if (moved) return;
      var remaining = Math.max(0, leftMs - (Date.now() - start));
      var s = Math.ceil(remaining / 1000);
      bar.value = Math.round((budgetMs - remaining) / 1000);
      leftText.textContent = left(s);
      var q = Math.floor((budgetMs - remaining) / (budgetMs / 4));
      if (q > quarter && q < 4) {
        quarter = q;
        status.textContent = t('wait_still') + ' ' + left(s);
      }
    }, 1000);
    function go() {
      if (moved) return;
      moved = true;
      clearInterval(timer);
      status.textContent = t('wait_done');
      window.location.replace(next);
    }
    function poll() {
      var ms = parseInt(el.dataset.pollMs, 10) || 3000;
      setInterval(function () {
        fetch(el.dataset.statusUrl, { credentials: 'same-origin', cache: 'no-store' })
          .then(function (r) { return r.ok ? r.json() : { state: 'ready' }; })
          .then(function (j) { if (j.state !== 'pending') go(); })
          .catch(function () {});
      }, ms);
    }
    if (el.dataset.eventsUrl && window.EventSource) {
      var es = new EventSource(el.dataset.eventsUrl);
      es.addEventListener('outcome', function () { es.close(); go(); });
      es.onerror = function () { es.close(); if (!moved) poll(); };
    } else {
      poll();
    }
  }

  // reveal turns a masked field's "Show" checkbox on: checked, the value
  // is shown as text.
  function reveal(box) {
    var check = box.querySelector('input[type=checkbox][data-reveal]');
    var input = document.getElementById(check.dataset.reveal);
    if (!input) return;
    box.hidden = false;
    check.addEventListener('change', function () { input.type = check.checked ? 'text' : 'password'; });
  }

  document.addEventListener('DOMContentLoaded', function () {
    lang = document.documentElement.lang || 'en';
    var msgs = document.getElementById('messages');
    try { M = JSON.parse(msgs.textContent); } catch (e) { M = {}; }
    var summary = document.getElementById('error-summary');
    if (summary) { linkSummary(summary); summary.focus(); }
    Array.prototype.forEach.call(document.querySelectorAll('.reveal'), reveal);
    var form = document.getElementById('capture');
    if (form) capture(form);
    var w = document.getElementById('waiting');
    if (w) waiting(w);
  });
})();
