// The set-up in the page's URL: '#dataset=circle&layers=4,2&...' (the same form config.py's from_query
// reads, so a link also works with `fastmlp playground --headless --url LINK`). View options (show_test,
// discretize, speed) ride along and stay in the page.

export const VIEW_DEFAULTS = { show_test: false, discretize: false, speed: 1 };
const LISTS = new Set(["features", "layers"]);
const NUMBERS = new Set(["noise", "train_ratio", "batch_size", "samples", "seed", "lr", "reg_rate"]);

/** {config, view} from a location hash; config holds only the keys the link names (the server fills in
 * and checks the rest). */
export function parseHash(hash) {
  const config = {};
  const view = { ...VIEW_DEFAULTS };
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  for (const [key, value] of params) {
    if (key === "show_test" || key === "discretize") view[key] = value === "true" || value === "1";
    else if (key === "speed") view.speed = Math.max(1, parseInt(value, 10) || 1);
    else if (LISTS.has(key)) {
      const items = value.split(",").filter((s) => s !== "");
      config[key] = key === "layers" ? items.map(Number) : items;
    } else if (NUMBERS.has(key)) config[key] = Number(value);
    else if (key === "backend") config[key] = value === "" || value === "auto" ? null : value;
    else config[key] = value;
  }
  return { config, view };
}

/** The hash for a full config and the view options. */
export function toHash(config, view) {
  const parts = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === null || value === undefined) continue;
    parts.push(`${key}=${Array.isArray(value) ? value.join(",") : encodeURIComponent(String(value))}`);
  }
  for (const [key, value] of Object.entries(view)) {
    if (value !== VIEW_DEFAULTS[key]) parts.push(`${key}=${value}`);
  }
  return "#" + parts.join("&");
}
