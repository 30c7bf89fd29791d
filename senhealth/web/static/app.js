// Sen Health pages: the few Alpine.js components (CSP build: components are registered here, never
// written as expressions in the HTML). Everything works without this file; it only improves.
document.addEventListener("alpine:init", () => {
  // The navigation menu, folded on narrow screens.
  window.Alpine.data("menu", () => ({
    open: false,
    toggle() { this.open = !this.open; },
    get navClass() { return this.open ? "open" : ""; },
  }));
  // The time left to emergency access (break-the-glass), counted down from the server's figure.
  window.Alpine.data("countdown", () => ({
    left: 0,
    timer: null,
    init() {
      this.left = parseInt(this.$el.dataset.seconds || "0", 10);
      this.timer = setInterval(() => {
        this.left = Math.max(0, this.left - 1);
        if (this.left === 0) { clearInterval(this.timer); }
      }, 1000);
    },
    get label() {
      const m = Math.floor(this.left / 60), s = this.left % 60;
      return String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
    },
  }));
  // A consent form saved as soon as a choice is made (the Save button stays for no-script browsers).
  window.Alpine.data("autosubmit", () => ({
    submit() { this.$root.requestSubmit(); },
  }));
});
