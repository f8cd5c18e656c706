// The 3D view of a computed molecule with its inspiration hits in their protein (NGL).
// The section (#viewer, templates/computed_sets/_viewer.html) names a JSON route in
// data-viewer-url; clicking a row of the molecule table (tr[data-molecule]) shows that
// molecule. What is on show is reported on the section for people and tests alike:
// data-state (loading, ready, unavailable, error), data-protein, data-hits (codes joined by
// ","), data-molecule and data-components (how many of each kind are loaded).
(function () {
  "use strict";

  var COLOURS = { protein: "#9aa5b1", hit: "#f28e2b", molecule: "#17a589" };

  function webglAvailable() {
    try {
      var canvas = document.createElement("canvas");
      return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
    } catch (e) {
      return false;
    }
  }

  function Viewer(section) {
    this.section = section;
    this.message = section.querySelector("#viewer-message");
    this.caption = section.querySelector("#viewer-caption");
    this.pick = section.querySelector("#viewer-pick");
    this.stage = null;
    this.protein = null; // {url, component}
    this.ligands = []; // hit and molecule components of the molecule on show
    this.request = 0; // the latest show() wins when clicks come quickly
  }

  Viewer.prototype.fail = function (state, text) {
    this.section.dataset.state = state;
    this.message.textContent = text;
  };

  Viewer.prototype.start = function () {
    if (typeof window.NGL === "undefined") {
      this.fail("unavailable", "The 3D viewer could not be loaded; the table below still lists every molecule.");
      return false;
    }
    if (!webglAvailable()) {
      this.fail("unavailable", "This browser cannot draw 3D graphics (WebGL is off or unsupported); the table below still lists every molecule.");
      return false;
    }
    try {
      this.stage = new window.NGL.Stage(this.section.querySelector("#viewer-stage"), {
        backgroundColor: "white",
        tooltip: true,
      });
    } catch (e) {
      this.fail("unavailable", "The 3D viewer could not start (" + e.message + ").");
      return false;
    }
    var stage = this.stage;
    window.addEventListener("resize", function () { stage.handleResize(); });
    return true;
  };

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(url + " answered " + response.status);
      return response.text();
    });
  }

  Viewer.prototype.load = function (url, ext, name) {
    var stage = this.stage;
    return fetchText(url).then(function (text) {
      return stage.loadFile(new Blob([text], { type: "text/plain" }), { ext: ext, name: name });
    });
  };

  Viewer.prototype.showProtein = function (protein) {
    var self = this;
    if (self.protein && protein && self.protein.url === protein.url) {
      return Promise.resolve(self.protein.component);
    }
    if (self.protein) {
      self.stage.removeComponent(self.protein.component);
      self.protein = null;
    }
    if (!protein) return Promise.resolve(null);
    return self.load(protein.url, "pdb", protein.code).then(function (component) {
      self.protein = { url: protein.url, code: protein.code, component: component };
      return component;
    });
  };

  // The protein's residues within 5 Å of the molecule, drawn as lines
  function pocketSelection(protein, molecule) {
    try {
      var near = null;
      molecule.structure.eachAtom(function (atom) {
        var found = protein.structure.getAtomSetWithinPoint(atom, 5);
        near = near ? near.union(found) : found;
      });
      if (!near) return null;
      return protein.structure.getAtomSetWithinGroup(near).toSeleString();
    } catch (e) {
      return null;
    }
  }

  Viewer.prototype.show = function (name) {
    var self = this;
    var request = ++self.request;
    var url = self.section.dataset.viewerUrl;
    if (name) url += (url.indexOf("?") < 0 ? "?" : "&") + "molecule=" + encodeURIComponent(name);
    self.section.dataset.state = "loading";
    self.message.textContent = "Loading " + (name || "the first molecule") + "…";
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("the molecule's view answered " + response.status);
        return response.json();
      })
      .then(function (scene) {
        if (request !== self.request) return null;
        return self.showProtein(scene.protein).then(function (protein) {
          return Promise.all(
            [self.load(scene.molecule.url, "mol", scene.molecule.name)].concat(
              scene.hits.map(function (hit) { return self.load(hit.url, "mol", hit.code); })
            )
          ).then(function (components) {
            if (request !== self.request) {
              components.forEach(function (c) { self.stage.removeComponent(c); });
              return;
            }
            self.replaceLigands(scene, protein, components);
          });
        });
      })
      .catch(function (error) {
        if (request === self.request) self.fail("error", "The 3D view could not be shown: " + error.message);
      });
  };

  Viewer.prototype.replaceLigands = function (scene, protein, components) {
    var self = this;
    self.ligands.forEach(function (c) { self.stage.removeComponent(c); });
    self.protein && self.protein.component.removeAllRepresentations();
    var molecule = components[0];
    var hits = components.slice(1);
    hits.forEach(function (hit) {
      hit.addRepresentation("licorice", { color: COLOURS.hit, radiusSize: 0.1 });
    });
    // thicker than the hits: where the merge follows a hit, the hit shows at its edges
    molecule.addRepresentation("ball+stick", {
      color: COLOURS.molecule,
      radiusSize: 0.17,
      aspectRatio: 1.6,
    });
    if (protein) {
      protein.addRepresentation("cartoon", { color: COLOURS.protein, opacity: 0.9 });
      var pocket = pocketSelection(protein, molecule);
      if (pocket) {
        protein.addRepresentation("line", { sele: pocket, color: COLOURS.protein, linewidth: 2 });
      }
    }
    self.ligands = components;
    molecule.autoView(0);
    self.stage.viewerControls.zoom(0.3); // closer than NGL's fit: the pocket fills the view
    var codes = scene.hits.map(function (hit) { return hit.code; });
    self.section.dataset.molecule = scene.molecule.name;
    self.section.dataset.hits = codes.join(",");
    self.section.dataset.protein = scene.protein ? scene.protein.code : "";
    self.section.dataset.components = JSON.stringify({
      protein: protein ? 1 : 0,
      hits: hits.length,
      molecule: 1,
    });
    self.caption.textContent = scene.molecule.name + " · inspirations " + (codes.join(", ") || "none") +
      " · protein " + (scene.protein ? scene.protein.code : "none");
    self.message.textContent = scene.protein
      ? ""
      : "No apo-desolv structure is stored for ref_pdb " + scene.ref_pdb + ": the molecule and its hits are shown alone.";
    self.section.dataset.state = "ready";
    self.markRow(scene.molecule.name);
    self.fillPick(scene);
  };

  Viewer.prototype.markRow = function (name) {
    document.querySelectorAll("tr[data-molecule]").forEach(function (row) {
      var on = row.dataset.molecule === name;
      row.classList.toggle("viewing", on);
      if (on) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
    });
  };

  // Where no molecule table is on the page (a job's page), a list to pick from
  Viewer.prototype.fillPick = function (scene) {
    var pick = this.pick;
    if (!pick || document.querySelector("tr[data-molecule]")) return;
    if (!pick.options.length) {
      scene.molecules.forEach(function (name) { pick.add(new Option(name, name)); });
    }
    pick.value = scene.molecule.name;
    pick.closest("label").hidden = scene.molecules.length < 2;
  };

  function init() {
    var section = document.getElementById("viewer");
    if (!section || section.dataset.started) return;
    section.dataset.started = "1";
    var viewer = new Viewer(section);
    if (!viewer.start()) return;
    var first = document.querySelector("table.molecules tr[data-molecule]");
    viewer.show(first ? first.dataset.molecule : "");
    document.addEventListener("click", function (event) {
      var row = event.target.closest("table.molecules tr[data-molecule]");
      if (!row || event.target.closest("a, button, input, select, label")) return;
      viewer.show(row.dataset.molecule);
    });
    if (viewer.pick) {
      viewer.pick.addEventListener("change", function () { viewer.show(viewer.pick.value); });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
