//! The request view that signatures are computed over.

/// The parts of an HTTP request that derived components are taken from.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// Request method (`@method`).
    pub method: &'a http::Method,
    /// Request URI, origin-form (`/p?q`) or absolute (`https://h/p?q`).
    pub uri: &'a http::Uri,
    /// Authority override (`@authority`); else the URI's, else `Host`.
    pub authority: Option<&'a str>,
    /// Request header fields.
    pub headers: &'a http::HeaderMap,
}

impl<'a> RequestParts<'a> {
    /// Builds a view with the authority taken from the URI or `Host` header.
    pub fn new(method: &'a http::Method, uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Self {
        Self {
            method,
            uri,
            authority: None,
            headers,
        }
    }
}
