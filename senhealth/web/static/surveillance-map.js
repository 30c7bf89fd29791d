/* The outbreak map (/app/surveillance/map): replaces the server's SVG map by a Leaflet map of the same
   communes and numbers, read from the page's GeoJSON (data-geojson). No tiles: planar map units on a
   blank background (L.CRS.Simple). Colours are CSS classes (the pages' CSP allows no inline style);
   a commune with an open alert is outlined and marked, its marker links to the alert. */
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("surveillance-map");
    if (!box || !box.dataset.geojson || typeof L === "undefined") { return; }
    fetch(box.dataset.geojson, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (data) { draw(box, data); })
      .catch(function (e) { if (window.console) { console.warn("surveillance map: " + e); } /* the server SVG map stays */ });
  }
  function draw(box, data) {
    while (box.firstChild) { box.removeChild(box.firstChild); }
    var map = L.map(box, { crs: L.CRS.Simple, attributionControl: false, zoomSnap: 0.25, minZoom: -4, maxZoom: 4 });
    var areas = L.geoJSON(data, {
      style: function (f) {
        var p = f.properties;
        return { className: "area " + p["class"] + (p.signal ? " signal" : ""), weight: 1, fillOpacity: 1 };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(f.properties.title, { sticky: true });
        layer.on("click", function () { window.location.hash = "row-" + f.properties.code; });
        layer.on("add", function () {
          var el = layer.getElement && layer.getElement();
          if (el) { el.setAttribute("data-code", f.properties.code); }
        });
      }
    });
    map.fitBounds(areas.getBounds(), { padding: [8, 8] });  /* a view first: paths are projected when added */
    areas.addTo(map);
    if (data.outline) {
      L.geoJSON(data.outline, { interactive: false, style: function () { return { className: "province-outline", fill: false }; } }).addTo(map);
    }
    data.features.forEach(function (f) {
      var p = f.properties;
      if (!p.signal || !p.centroid) { return; }
      var marker = L.circleMarker(L.latLng(p.centroid[1], p.centroid[0]), { radius: 9, className: "signal-marker" }).addTo(map);
      var el = marker.getElement();
      if (el) { el.setAttribute("data-code", p.code); }
      marker.bindTooltip(p.name + ": " + p.alerts.map(function (a) { return a.text; }).join("; "));
      marker.on("click", function () { if (p.alerts.length) { window.location.href = p.alerts[0].href; } });
    });
    box.setAttribute("data-ready", "true");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
