// The case's link chart on Cytoscape.js. It opens aggregated: cards, institutions and doctors
// are the nodes, and an edge carries the boxes and the fund's money between them, so a case of
// thousands of boxes stays readable. A node expands to its sales and their boxes, and collapses
// again. The full graph (the API's node-link JSON) is kept aside and never drawn whole.
/* global cytoscape */
import { el, clear, t, yuan } from "./common.js";

const AGGREGATE = ["card", "institution", "doctor"];
const COLOURS = { card: "#f79009", institution: "#1d4e89", doctor: "#067647", sale: "#98a2b3", box: "#d92d20" };

function index(graph) {
  const nodes = new Map(graph.nodes.map((n) => [n.id, n]));
  const out = new Map();
  const into = new Map();
  for (const e of graph.edges) {
    if (!out.has(e.source)) out.set(e.source, []);
    if (!into.has(e.target)) into.set(e.target, []);
    out.get(e.source).push(e);
    into.get(e.target).push(e);
  }
  // Per sale: its card, institution, doctor, money and the boxes that carry its code.
  const sales = new Map();
  for (const n of graph.nodes) {
    if (n.type !== "sale") continue;
    const sale = { id: n.id, node: n, card: null, institution: null, doctor: null, money: 0, boxes: new Set() };
    for (const e of out.get(n.id) || []) {
      const type = nodes.get(e.target).type;
      if (AGGREGATE.includes(type)) sale[type] = e.target;
    }
    for (const e of into.get(n.id) || []) {
      if (e.label !== "settled in") continue;
      sale.money += Number(e.money || 0);
      for (const b of into.get(e.source) || []) {
        if (nodes.get(b.source).type === "box") sale.boxes.add(b.source);
      }
    }
    sales.set(n.id, sale);
  }
  return { nodes, sales };
}

function aggregate(graph, idx) {
  const elements = [];
  for (const n of graph.nodes) {
    if (!AGGREGATE.includes(n.type)) continue;
    elements.push({ group: "nodes", data: { id: n.id, type: n.type, label: n.label, boxes: n.boxes, fund: n.fund } });
  }
  const pairs = new Map();
  function add(a, b, sale) {
    if (!a || !b) return;
    const id = `${a}|${b}`;
    if (!pairs.has(id)) pairs.set(id, { id, source: a, target: b, boxes: new Set(), money: 0 });
    const pair = pairs.get(id);
    sale.boxes.forEach((box) => pair.boxes.add(box));
    pair.money += sale.money;
  }
  for (const sale of idx.sales.values()) {
    add(sale.card, sale.institution, sale);
    add(sale.doctor, sale.institution, sale);
  }
  for (const p of pairs.values()) {
    elements.push({ group: "edges", data: { id: p.id, source: p.source, target: p.target, boxes: p.boxes.size,
      fund: p.money.toFixed(2), label: `${p.boxes.size} · ¥${yuan(p.money)}` } });
  }
  return elements;
}

export function drawChart(container, listNode, graph, { onSelect } = {}) {
  const idx = index(graph);
  const maxBoxes = Math.max(1, ...graph.nodes.filter((n) => AGGREGATE.includes(n.type)).map((n) => n.boxes || 0));
  if (container.rxChart) container.rxChart.destroy();
  const cy = cytoscape({
    container,
    elements: aggregate(graph, idx),
    minZoom: 0.05,
    maxZoom: 4,
    style: [
      { selector: "node", style: {
        "background-color": (n) => COLOURS[n.data("type")] || "#667085",
        label: "data(label)", "font-size": 9, color: "#1b1f24", "text-valign": "bottom", "text-margin-y": 2,
        width: (n) => 10 + 40 * Math.sqrt((n.data("boxes") || 0) / maxBoxes),
        height: (n) => 10 + 40 * Math.sqrt((n.data("boxes") || 0) / maxBoxes),
      } },
      { selector: "node[type = 'institution']", style: { shape: "round-rectangle" } },
      { selector: "node[type = 'doctor']", style: { shape: "diamond" } },
      { selector: "node[type = 'sale']", style: { shape: "ellipse", width: 8, height: 8, "font-size": 7 } },
      { selector: "node[type = 'box']", style: { shape: "rectangle", width: 7, height: 7, "font-size": 6, label: "" } },
      { selector: "node.expanded", style: { "border-width": 3, "border-color": "#111" } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": "#0b6bcb" } },
      { selector: "edge", style: {
        width: (e) => 1 + Math.min(8, Math.sqrt(e.data("boxes") || 1)), "line-color": "#c0c7cf", "curve-style": "bezier",
        label: "data(label)", "font-size": 7, color: "#5b6670", "text-rotation": "autorotate",
      } },
      { selector: "edge.detail", style: { width: 1, "line-color": "#98a2b3", label: "" } },
      { selector: ".faded", style: { opacity: 0.15 } },
    ],
    layout: { name: "cose", animate: false, nodeRepulsion: () => 9000, idealEdgeLength: () => 60, randomize: false },
  });

  container.rxChart = cy;
  const owners = new Map(); // element id -> set of expanded nodes that added it

  function expand(node) {
    const id = node.id();
    const added = [];
    const centre = node.position();
    let k = 0;
    for (const sale of idx.sales.values()) {
      if (sale.card !== id && sale.institution !== id && sale.doctor !== id) continue;
      const pieces = [
        { group: "nodes", data: { id: sale.id, type: "sale", label: sale.node.label, boxes: sale.boxes.size } },
        { group: "edges", data: { id: `${id}>${sale.id}`, source: id, target: sale.id }, classes: "detail" },
      ];
      for (const box of sale.boxes) {
        const b = idx.nodes.get(box);
        pieces.push({ group: "nodes", data: { id: box, type: "box", label: b.label, status: b.status } });
        pieces.push({ group: "edges", data: { id: `${sale.id}>${box}`, source: sale.id, target: box }, classes: "detail" });
      }
      for (const piece of pieces) {
        const pid = piece.data.id;
        if (!owners.has(pid)) owners.set(pid, new Set());
        owners.get(pid).add(id);
        if (cy.getElementById(pid).length) continue;
        if (piece.group === "nodes") {
          const angle = (k++ / 12) * 2 * Math.PI;
          const r = 40 + 6 * k;
          piece.position = { x: centre.x + r * Math.cos(angle), y: centre.y + r * Math.sin(angle) };
        }
        added.push(piece);
      }
    }
    cy.add(added);
    node.addClass("expanded");
    container.dataset.nodes = String(cy.nodes().length);
  }

  function collapse(node) {
    const id = node.id();
    const gone = [];
    for (const [pid, by] of owners) {
      by.delete(id);
      if (!by.size) {
        gone.push(pid);
        owners.delete(pid);
      }
    }
    cy.remove(gone.map((pid) => cy.getElementById(pid)).reduce((a, b) => a.union(b), cy.collection()));
    node.removeClass("expanded");
    container.dataset.nodes = String(cy.nodes().length);
  }

  cy.on("tap", "node", (event) => {
    const node = event.target;
    if (!AGGREGATE.includes(node.data("type"))) return;
    if (node.hasClass("expanded")) collapse(node);
    else expand(node);
    select(node.id());
  });

  function select(id) {
    cy.elements().removeClass("faded");
    listNode.querySelectorAll("li").forEach((li) => li.classList.toggle("selected", li.dataset.node === id));
    if (id) {
      const node = cy.getElementById(id);
      cy.elements().not(node.closedNeighborhood()).addClass("faded");
    }
    if (onSelect) onSelect(id ? idx.nodes.get(id) : null);
  }

  function filter(types) {
    cy.nodes().forEach((n) => {
      const type = n.data("type");
      if (AGGREGATE.includes(type)) n.style("display", types.includes(type) ? "element" : "none");
    });
  }

  // The list beside the chart: the same nodes, by boxes, for reading and for keyboards.
  const listed = graph.nodes.filter((n) => AGGREGATE.includes(n.type)).sort((a, b) => (b.boxes || 0) - (a.boxes || 0));
  clear(listNode, listed.map((n) => el("li", { dataset: { node: n.id } },
    el("button", { type: "button", class: "link", onclick: () => {
      const node = cy.getElementById(n.id);
      cy.animate({ center: { eles: node }, zoom: 1.2 }, { duration: 200 });
      select(n.id);
    } }, `${t("type." + n.type)} ${n.label}`), ` · ${n.boxes} · ¥${yuan(n.fund)} `,
    el("button", { type: "button", class: "link toggle", onclick: () => {
      const node = cy.getElementById(n.id);
      if (node.hasClass("expanded")) collapse(node);
      else expand(node);
    } }, t("case.toggle")))));
  container.dataset.nodes = String(cy.nodes().length);
  return {
    cy, expand: (id) => expand(cy.getElementById(id)), collapse: (id) => collapse(cy.getElementById(id)),
    select, filter, fit: () => cy.fit(undefined, 20),
    png: () => cy.png({ full: true, scale: 2, bg: "#ffffff" }),
  };
}
