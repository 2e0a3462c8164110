// The upload page: preview the chosen image, POST it to /predict, show the answer.
// /predict answers an HTML snippet (the prediction, or the error) that we insert as is;
// its feedback form (right / wrong + the right class) posts to /feedback the same way.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  const input = document.getElementById("file");
  const preview = document.getElementById("preview");
  const result = document.getElementById("result");
  const submit = document.getElementById("submit");
  let previewUrl = null;

  input.addEventListener("change", function () {
    result.innerHTML = "";
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    const file = input.files[0];
    if (!file) { preview.hidden = true; return; }
    previewUrl = URL.createObjectURL(file);
    preview.src = previewUrl;
    preview.hidden = false;
  });

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (!input.files[0]) { result.innerHTML = '<div class="error">Choose an image first.</div>'; return; }
    const body = new FormData();
    body.append("file", input.files[0]);
    submit.disabled = true;
    result.innerHTML = '<div class="pending">Classifying…</div>';
    try {
      const resp = await fetch(form.action, { method: "POST", body: body, headers: { Accept: "text/html" } });
      result.innerHTML = await resp.text();
    } catch (err) {
      result.innerHTML = '<div class="error">The request failed: ' + String(err).replace(/[<>&]/g, "") + "</div>";
    } finally {
      submit.disabled = false;
    }
  });

  // The feedback form is inserted with the answer: listen on #result.
  result.addEventListener("submit", async function (event) {
    const fb = event.target;
    if (!fb.classList || !fb.classList.contains("feedback")) return;
    event.preventDefault();
    const body = new URLSearchParams(new FormData(fb, event.submitter));
    for (const b of fb.querySelectorAll("button")) b.disabled = true;
    try {
      const resp = await fetch(fb.action, { method: "POST", body: body, headers: { Accept: "text/html" } });
      fb.outerHTML = await resp.text();
    } catch (err) {
      fb.outerHTML = '<div class="error">The feedback was not sent: ' + String(err).replace(/[<>&]/g, "") + "</div>";
    }
  });
})();
