//! What the two HTML pages (`report.html`, compare's `--html`) share: escaping, their
//! stylesheets, the document head, and inline SVG.

/// `report.html`'s stylesheet.
pub const REPORT_CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;\
color:#222;padding:0 1rem}h1{margin-bottom:.2rem}table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}\
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child\
{text-align:left}.swatch{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.4rem;\
vertical-align:middle}.warn{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem}figure{margin:2rem 0}\
figure svg{max-width:100%;height:auto}figcaption{font-size:.95rem;margin-top:.5rem}.muted{color:#666}";

/// The compare page's stylesheet.
pub const COMPARE_CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;\
color:#222;padding:0 1rem}table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}th,td{border:1px solid #ccc;\
padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child,td:last-child,th:last-child\
{text-align:left}.swatch{display:inline-block;width:.9rem;height:.9rem;border-radius:2px;margin-right:.5rem;\
vertical-align:middle}.verdict{padding:.6rem 1rem;border-radius:4px;font-size:1.2rem;font-weight:600}\
.fail{background:#fde2e1;border:1px solid #d9534f}.pass{background:#e3f4e1;border:1px solid #5cb85c}\
tr.regression td{background:#fdecea}tr.improvement td{background:#eef8ec}figure{margin:1rem 0}\
figure svg{max-width:100%;height:auto}figcaption,.muted{color:#666;font-size:.9rem}";

/// Text made safe inside HTML text and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A self-contained page's start, up to and including its `<h1>`: `title` names both.
pub fn head(title: &str, css: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{css}</style></head><body>\n\
         <h1>{}</h1>\n",
        esc(title),
        esc(title)
    )
}

/// An SVG document to inline in a page: its `<?xml ...?>` prolog is not allowed there.
pub fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The square of a transport's colour before its name.
pub fn swatch(css_color: &str) -> String {
    format!("<span class=\"swatch\" style=\"background:{css_color}\"></span>")
}
