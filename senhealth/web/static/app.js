// Sen Health pages: the few Alpine.js components (CSP build: components are registered here, never
// written as expressions in the HTML). Everything works without this file; it only improves.
document.addEventListener("alpine:init", () => {
  // The navigation menu, folded on narrow screens.
  window.Alpine.data("menu", () => ({
    open: false,
    toggle() { this.open = !this.open; },
    get navClass() { return this.open ? "open" : ""; },
  }));
  // A consent form saved as soon as a choice is made (the Save button stays for no-script browsers).
  window.Alpine.data("autosubmit", () => ({
    submit() { this.$root.requestSubmit(); },
  }));
});
