// proofline pages: in-browser image encryption and upload, and the waiting
// page. No inline script anywhere (the CSP forbids it); this file is the only
// script. It never puts a value the person typed into a URL.
'use strict';

(function () {
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

  // upload sends the ciphertext as the page was told: a PUT of the bytes, or
  // (S3, which then refuses an oversized image itself) a POST form of the
  // given fields with the bytes last, as "file".
  function upload(input, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      var method = input.dataset.uploadMethod === 'POST' ? 'POST' : 'PUT';
      x.open(method, input.dataset.uploadUrl);
      if (method === 'POST') {
        var form = new FormData();
        var fields = JSON.parse(input.dataset.uploadFields || '{}');
        Object.keys(fields).forEach(function (k) { form.append(k, fields[k]); });
        form.append('file', new Blob([body], { type: 'application/octet-stream' }), 'blob');
        body = form;
      } else {
        x.setRequestHeader('Content-Type', 'application/octet-stream');
      }
      x.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(Math.round(100 * e.loaded / e.total)); };
      x.onload = function () { x.status >= 200 && x.status < 300 ? resolve() : reject(new Error('upload answered ' + x.status)); };
      x.onerror = function () { reject(new Error('network error')); };
      x.send(body);
    });
  }

  async function capture(form) {
    var submit = form.querySelector('#submit');
    var keyField = form.querySelector('#encryption_key');
    var captureID = form.dataset.captureId;
    var bindAAD = form.dataset.aad === '1';
    var inputs = Array.prototype.slice.call(form.querySelectorAll('input[type=file][data-side]'));
    var state = {};
    var key;
    function setStatus(side, text, isError) {
      var el = form.querySelector('#' + side + '-status');
      el.textContent = text;
      el.className = isError ? 'status error' : 'status';
      form.querySelector('#field-' + side).classList.toggle('invalid', !!isError);
      form.querySelector('#' + side).setAttribute('aria-invalid', isError ? 'true' : 'false');
    }
    if (!window.crypto || !crypto.subtle) {
      inputs.forEach(function (i) { setStatus(i.dataset.side, 'This browser cannot encrypt your photo. Use a current browser.', true); });
      submit.disabled = true;
      return;
    }
    try {
      // One key per page load; it leaves the browser only in this form.
      key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']);
      keyField.value = b64(new Uint8Array(await crypto.subtle.exportKey('raw', key)));
    } catch (e) {
      inputs.forEach(function (i) { setStatus(i.dataset.side, 'Your photo could not be encrypted. Reload the page.', true); });
      submit.disabled = true;
      return;
    }
    inputs.forEach(function (input) {
      var side = input.dataset.side;
      var progress = form.querySelector('#' + side + '-progress');
      input.addEventListener('change', async function () {
        var file = input.files && input.files[0];
        form.querySelector('#' + side + '_image_url').value = '';
        form.querySelector('#' + side + '_image_iv').value = '';
        state[side] = 'busy';
        if (!file) { state[side] = ''; setStatus(side, '', false); return; }
        var ct, iv;
        try {
          setStatus(side, 'Encrypting…', false);
          iv = crypto.getRandomValues(new Uint8Array(12));
          var aad = bindAAD ? new TextEncoder().encode(captureID + '/' + side) : null;
          ct = await encryptImage(key, iv, await file.arrayBuffer(), aad);
        } catch (e) {
          state[side] = 'error';
          setStatus(side, 'Your photo could not be encrypted. Choose it again.', true);
          return;
        }
        progress.hidden = false;
        progress.value = 0;
        setStatus(side, 'Uploading…', false);
        try {
          await upload(input, ct, function (p) { progress.value = p; });
        } catch (e) {
          state[side] = 'error';
          progress.hidden = true;
          setStatus(side, 'Your photo could not be uploaded. Check your connection and choose it again.', true);
          return;
        }
        progress.value = 100;
        form.querySelector('#' + side + '_image_url').value = input.dataset.objectUrl || input.dataset.uploadUrl;
        form.querySelector('#' + side + '_image_iv').value = b64(iv);
        state[side] = 'done';
        setStatus(side, 'Uploaded.', false);
      });
    });
    form.addEventListener('submit', function (e) {
      var ok = true;
      inputs.forEach(function (input) {
        var side = input.dataset.side;
        if (state[side] === 'done') return;
        ok = false;
        if (state[side] === 'busy') setStatus(side, 'Still uploading… wait a moment.', false);
        else if (state[side] !== 'error') setStatus(side, 'Add this photo.', true);
      });
      if (!ok) e.preventDefault();
    });
  }

  function waiting(el) {
    var next = el.dataset.next;
    var status = document.getElementById('wait-status');
    var moved = false;
    function go() {
      if (moved) return;
      moved = true;
      status.textContent = 'Done. Loading the next step…';
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

  document.addEventListener('DOMContentLoaded', function () {
    var form = document.getElementById('capture');
    if (form) capture(form);
    var w = document.getElementById('waiting');
    if (w) waiting(w);
  });
})();
