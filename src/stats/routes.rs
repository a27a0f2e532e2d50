//! Routes: which HTTP request a payload was made serving. A route is the
//! request's method and the ServeMux's pattern when the mux set one (Go
//! 1.23's `Request.Pattern`), else the method and the URL's path cut to its
//! first `--route-depth` segments. At most `--max-routes` routes are told
//! apart; later ones count as [`OTHER`]. A payload made on a goroutine
//! serving no request (a background job, an encoder's own goroutine) is
//! [`NO_ROUTE`].

use crate::event::RouteSeen;

/// The route of payloads made serving no request.
pub const NO_ROUTE: &str = "no route";
/// The routes beyond `--max-routes`.
pub const OTHER: &str = "other";

/// The route a payload made serving the request seen as `r` counts under
/// (None: serving none), its path cut to `depth` segments.
pub fn name(r: Option<&RouteSeen>, depth: usize) -> String {
    r.map_or_else(|| NO_ROUTE.to_string(), |r| label(r, depth))
}

/// `name` as counted where `known` routes are told apart already: itself,
/// unless it is new and `max` routes (`no route` and `other` not among
/// them) are known, then [`OTHER`].
pub fn bounded(name: String, known: &[String], max: usize) -> String {
    if name == NO_ROUTE || known.contains(&name) {
        return name;
    }
    let named = known
        .iter()
        .filter(|n| *n != NO_ROUTE && *n != OTHER)
        .count();
    if named >= max {
        OTHER.to_string()
    } else {
        name
    }
}

/// The route a request seen as `r` counts under, its path cut to `depth`
/// segments; the target's bytes escaped (a route is shown as it is).
pub fn label(r: &RouteSeen, depth: usize) -> String {
    let method = crate::base::text::escape(&r.method).to_string();
    let cut = r.len as usize > r.text.len();
    if r.pattern {
        let text = crate::base::text::escape(&r.text).to_string();
        let more = if cut { "…" } else { "" };
        // A pattern may name its method ("GET /items/{id}").
        return if r.text.contains(' ') {
            format!("{text}{more}")
        } else {
            format!("{method} {text}{more}")
        };
    }
    let path = r.text.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let kept = &segments[..segments.len().min(depth)];
    // A path longer than what was read, cut inside the segments kept.
    let more = if cut && kept.len() == segments.len() {
        "…"
    } else {
        ""
    };
    let path = crate::base::text::escape(&kept.join("/")).to_string();
    format!("{method} /{path}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(method: &str, text: &str, pattern: bool) -> RouteSeen {
        RouteSeen {
            method: method.into(),
            text: text.into(),
            len: text.len() as u32,
            pattern,
        }
    }

    #[test]
    fn new_routes_beyond_the_bound_are_other() {
        let known: Vec<String> = ["GET /a", NO_ROUTE, OTHER].map(String::from).to_vec();
        assert_eq!(bounded("GET /a".into(), &known, 1), "GET /a");
        assert_eq!(bounded("GET /b".into(), &known, 1), OTHER);
        assert_eq!(bounded("GET /b".into(), &known, 2), "GET /b");
        assert_eq!(bounded(NO_ROUTE.into(), &[], 0), NO_ROUTE);
        assert_eq!(name(None, 2), NO_ROUTE);
    }

    #[test]
    fn a_path_is_cut_to_its_first_segments() {
        assert_eq!(
            label(&seen("GET", "/api/v1/query", false), 2),
            "GET /api/v1"
        );
        assert_eq!(label(&seen("GET", "/api/v1/query", false), 1), "GET /api");
        assert_eq!(label(&seen("POST", "/", false), 2), "POST /");
        assert_eq!(label(&seen("GET", "//a//b/c/", false), 2), "GET /a/b");
        assert_eq!(label(&seen("GET", "/metrics", false), 2), "GET /metrics");
    }

    #[test]
    fn a_pattern_is_kept_whole_with_its_method() {
        assert_eq!(
            label(&seen("GET", "GET /zstd/{kind}/{size}", true), 2),
            "GET /zstd/{kind}/{size}"
        );
        assert_eq!(label(&seen("GET", "/gzip/", true), 2), "GET /gzip/");
    }

    #[test]
    fn what_was_not_read_is_marked_and_bytes_are_escaped() {
        let mut r = seen("GET", "/averyveryverylongsegment", false);
        r.len = 200;
        assert_eq!(label(&r, 2), "GET /averyveryverylongsegment…");
        r.text = "/a/b/c".into();
        assert_eq!(label(&r, 2), "GET /a/b", "cut after the kept segments");
        assert_eq!(
            label(&seen("GE\x1bT", "/a\nb", false), 2),
            "GE\\x1bT /a\\nb"
        );
    }
}
