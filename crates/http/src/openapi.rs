//! The OpenAPI document, generated from the handlers' annotations, and a local Swagger UI page.

use crate::error::ApiError;
use crate::headers;
use crate::state::ApiState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use std::path::Path;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chat",
        description = "An event-sourced, real-time messenger. Errors always have the shape \
                       {\"error\": {\"code\", \"message\", \"field\"?}}."
    ),
    modifiers(&SecuritySchemes, &WebSocketPath),
    // The WebSocket at /api/v1/ws speaks these frames (JSON text, tagged by `type`).
    components(schemas(wire::ServerFrame, wire::ClientFrame)),
    tags(
        (name = "accounts", description = "Registration, login, profiles"),
        (name = "sessions", description = "The caller's sessions"),
        (name = "conversations", description = "Conversations: one-to-one pairs and groups (`kind`)"),
        (name = "groups", description = "Groups: creating one, its members and roles, renaming"),
        (name = "messages", description = "Sending, history, read receipts, edits and deletions"),
        (name = "telegram", description = "Linking a Telegram chat for offline notifications"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "session",
                "Set by login; HttpOnly and SameSite=Lax. Named `__Host-session` (and Secure) \
                 when the service runs over https (COOKIE_SECURE), `session` otherwise.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/ws`, served by the gateway (not an axum route of this crate), described here so the
/// document lists every route the service answers.
struct WebSocketPath;

impl Modify for WebSocketPath {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, ResponseBuilder, Type};
        let response = |text: &str| ResponseBuilder::new().description(text).build();
        let operation = OperationBuilder::new()
            .tag("realtime")
            .summary(Some("Real-time events over a WebSocket"))
            .description(Some(
                "Upgrade to a WebSocket. The server sends `ServerFrame`s (JSON text, tagged by \
                 `type`): `hello` first, then every durable event of the user's conversations \
                 with its `cursor`, and ephemeral `typing`/`presence`; the client sends \
                 `ClientFrame`s (`send`, `typing`, `resume`, `visibility`). Close 4001: the \
                 session ended; 4008: resume from your last cursor; 1009: frame too big.",
            ))
            .parameter(
                ParameterBuilder::new()
                    .name("after")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some("Replay every durable frame after this cursor first"))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0)),
                    )),
            )
            .response("101", response("Switched to the WebSocket protocol"))
            .response("401", response("Not logged in"))
            .response(
                "403",
                response("A cookie session from another site (code cross_site_request)"),
            )
            .response("422", response("Invalid `after` (field `after`)"))
            .response("400", response("Not a valid WebSocket handshake"))
            .response("426", response("Not a WebSocket upgrade request"))
            .security(utoipa::openapi::security::SecurityRequirement::new(
                "session_cookie",
                Vec::<String>::new(),
            ))
            .security(utoipa::openapi::security::SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            ))
            .build();
        openapi
            .paths
            .add_path_operation("/api/v1/ws", vec![HttpMethod::Get], operation);
    }
}

/// Every operation of the document, with whether its method changes state.
fn operations_mut(
    document: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (bool, &mut utoipa::openapi::path::Operation)> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            (false, &mut item.get),
            (true, &mut item.post),
            (true, &mut item.put),
            (true, &mut item.patch),
            (true, &mut item.delete),
        ]
        .into_iter()
        .filter_map(|(changes_state, operation)| operation.as_mut().map(|o| (changes_state, o)))
    })
}

/// The errors every operation of a kind can answer, whatever its own annotations list: the body
/// checks (400 malformed JSON, 413 too large, 415 not JSON, 422 a field named in `field`), the
/// session check (401), the cross-site guard on cookie requests that change state (403) and an
/// unreachable dependency (503). Added once here so the document cannot forget one operation.
pub fn document_common_errors(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let error = |text: &str| {
        ResponseBuilder::new()
            .description(text)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for (changes_state, operation) in operations_mut(document) {
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        let responses = &mut operation.responses.responses;
        let mut add = |status: &str, text: &str| {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| error(text).into());
        };
        if operation.request_body.is_some() {
            add("400", "The body is not valid JSON (code invalid_json) or could not be read (code invalid_body)");
            add("413", "The body is over 64 KiB (code payload_too_large)");
            add(
                "415",
                "The body is not `application/json` (code unsupported_media_type)",
            );
            add(
                "422",
                "A field is missing or invalid; `field` names it (code validation_failed)",
            );
        }
        if secured {
            add(
                "401",
                "No session, or a credential presented that does not hold (code unauthorized)",
            );
            if changes_state {
                add(
                    "403",
                    "A cookie request from another site (code cross_site_request)",
                );
            }
        }
        add(
            "503",
            "Postgres or Redis cannot be reached right now (code unavailable); or, while \
             Postgres is coming back, a change had no outcome in time and may still be made \
             (code timed_out: retry; a message resent with the same client_id is stored once)",
        );
    }
}

/// Links from the answers that create things to the operations that use their ids, so clients
/// (and a stateful fuzzer) can follow them: a started conversation to its reads and sends, a sent
/// message to its edit, deletion and readers.
pub fn document_links(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    const CONVERSATION: &str = "$response.body#/conversation/id";
    const MESSAGE_CONVERSATION: &str = "$response.body#/message/conversation_id";
    const MESSAGE: &str = "$response.body#/message/id";
    /// An operation to follow, with its parameters and where each is found in the answer.
    type Follow = (&'static str, &'static [(&'static str, &'static str)]);
    let follows: [(&str, &[Follow]); 3] = [
        (
            "start_conversation",
            &[
                ("get_conversation", &[("id", CONVERSATION)]),
                ("history", &[("id", CONVERSATION)]),
                ("send_message", &[("id", CONVERSATION)]),
                ("mark_read", &[("id", CONVERSATION)]),
            ],
        ),
        (
            "send_message",
            &[
                (
                    "edit_message",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
                (
                    "delete_message",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
                (
                    "readers",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
            ],
        ),
        (
            "send_message_to_user",
            &[
                ("history", &[("id", MESSAGE_CONVERSATION)]),
                ("mark_read", &[("id", MESSAGE_CONVERSATION)]),
                (
                    "edit_message",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
                (
                    "delete_message",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
                (
                    "readers",
                    &[("id", MESSAGE_CONVERSATION), ("message_id", MESSAGE)],
                ),
            ],
        ),
    ];
    for (_, operation) in operations_mut(document) {
        let Some((_, targets)) = follows
            .iter()
            .find(|(from, _)| operation.operation_id.as_deref() == Some(*from))
        else {
            continue;
        };
        for (status, response) in operation.responses.responses.iter_mut() {
            let utoipa::openapi::RefOr::T(response) = response else {
                continue;
            };
            if !status.starts_with('2') {
                continue;
            }
            for (target, parameters) in *targets {
                let mut link = LinkBuilder::new().operation_id(*target);
                for (name, value) in *parameters {
                    link = link.parameter(*name, *value);
                }
                response
                    .links
                    .insert((*target).to_owned(), link.build().into());
            }
        }
    }
}

/// A message body as the domain takes it: some text that is not white space, and no control
/// character but newline, tab and carriage return (`MessageBody::parse`).
const BODY_PATTERN: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";
/// A group's title: no control character, and something that is not white space
/// (`GroupTitle::parse`).
const TITLE_PATTERN: &str =
    "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// No control character at all (`ClientId::parse`).
const CLIENT_ID_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// The text rules of the request bodies, which the derive cannot take from constants: a body's
/// length and characters, a client id's, a group title's.
pub fn document_text_rules(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    /// A field, the bodies that have it, its length bounds and its pattern.
    type Rule = (
        &'static str,
        &'static [&'static str],
        Option<usize>,
        usize,
        &'static str,
    );
    let rules: [Rule; 3] = [
        (
            "body",
            &["SendRequest", "SendToRequest", "EditRequest"],
            None,
            4000,
            BODY_PATTERN,
        ),
        (
            "client_id",
            &["SendRequest", "SendToRequest"],
            Some(1),
            64,
            CLIENT_ID_PATTERN,
        ),
        (
            "title",
            &["CreateGroupRequest", "RenameRequest"],
            Some(1),
            100,
            TITLE_PATTERN,
        ),
    ];
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for (field, schemas, min, max, pattern) in rules {
        for name in schemas {
            let Some(RefOr::T(Schema::Object(schema))) = components.schemas.get_mut(*name) else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(property))) = schema.properties.get_mut(field) {
                property.min_length = min;
                property.max_length = Some(max);
                property.pattern = Some(pattern.to_owned());
            }
        }
    }
}

/// The Swagger UI page, under its own Content-Security-Policy, and its scripts and styles.
pub fn docs_router(web_dir: &Path) -> Router<ApiState> {
    let page = Router::new()
        .route("/api/docs", get(docs_page))
        .layer(map_response(headers::docs));
    let files = Router::new()
        .route(
            "/api/docs/init.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], DOCS_INIT) }),
        )
        .route(
            "/api/docs/docs.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], DOCS_CSS) }),
        )
        .nest_service("/api/docs/swagger-ui", swagger_ui_assets(web_dir))
        // The package also ships sample pages (index.html, oauth2-redirect.html): they get the
        // docs page's policy too, so none of its HTML can be framed or run foreign code.
        .layer(map_response(headers::docs))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ));
    page.merge(files)
}

/// Swagger UI's files, from the npm package `swagger-ui-dist` installed under `web/node_modules`.
fn swagger_ui_assets(web_dir: &Path) -> ServeDir {
    ServeDir::new(web_dir.join("node_modules/swagger-ui-dist"))
}

async fn docs_page() -> impl IntoResponse {
    Html(DOCS_PAGE)
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

pub fn json_document(document: &str) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.to_owned(),
    )
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>chat API</title>
  <link rel="stylesheet" href="/api/docs/swagger-ui/swagger-ui.css">
  <link rel="stylesheet" href="/api/docs/docs.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>
"#;

/// Kept out of the page so a strict Content-Security-Policy needs no inline script.
const DOCS_INIT: &str = r##"window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  // Without the standalone layout's top bar: its box for loading another document's URL has no
  // label, and this page documents one API only.
  layout: "BaseLayout",
  // Not swagger.io's validator badge: the page loads nothing from other sites.
  validatorUrl: null
});
"##;

/// Swagger UI's own colours, darkened where its text is under WCAG 2.2 AA's 4.5:1 contrast
/// (white on its light method badges, its pale links and buttons); loaded after its stylesheet.
/// The browser test runs axe-core on the page.
const DOCS_CSS: &str = r##".swagger-ui .opblock.opblock-get .opblock-summary-method { background: #1d6fb8; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #1f7a4f; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #c62828; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #0f7a64; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #a35a00; }
.swagger-ui .btn.authorize, .swagger-ui .btn.authorize span { color: #1f7a4f; border-color: #1f7a4f; }
.swagger-ui .btn.authorize svg { fill: #1f7a4f; }
.swagger-ui .topbar .download-url-wrapper .download-url-button { background: #2f6b1f; }
.swagger-ui .info .title small pre { background: #545a66; }
.swagger-ui .info .title small.version-stamp { background: #4a6b00; }
.swagger-ui .info .title small.version-stamp pre { background: #4a6b00; }
.swagger-ui .info a, .swagger-ui .info .url, .swagger-ui a.nostyle, .swagger-ui .info__license__url a { color: #1d5fa8; }
.swagger-ui .json-schema-2020-12-expand-deep-button { color: #4b4b4b; }
"##;
