// HTML escaping, for text from the server (names, titles, remarks, ids)
// put into markup built as a string: every such value goes through esc.
// Where a single value is shown, textContent needs none.
const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

// esc makes s (any value; null and undefined are empty) safe as element
// text and as a quoted attribute's value.
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]);
