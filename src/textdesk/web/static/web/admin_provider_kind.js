// Provider account form: the credential fields depend on the provider, so choosing another
// provider on a new account reloads the form with that provider's fields.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.querySelector('select[data-reload-on-change="kind"]');
  if (!select || !/\/add\/$/.test(window.location.pathname)) return;
  select.addEventListener("change", function () {
    var url = new URL(window.location.href);
    url.searchParams.set("kind", select.value);
    window.location.assign(url.toString());
  });
});
