// The page a log-in inside the Fragalysis frame ends on when the browser did not keep the
// session cookie. Where the browser has the Storage Access API, a button asks for access
// (a click is the user gesture it needs) and, once granted, retries the log-in in the frame.
(function () {
  "use strict";

  function init() {
    var button = document.getElementById("request-storage-access");
    if (!button || typeof document.requestStorageAccess !== "function") return;
    var refused = document.getElementById("storage-access-refused");
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      if (refused) refused.hidden = true;
      document.requestStorageAccess().then(
        function () { window.location.assign(button.dataset.retryUrl); },
        function () {
          button.disabled = false;
          if (refused) refused.hidden = false;
        }
      );
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
