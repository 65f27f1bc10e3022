//! Groups: creating one, and its members (list, add, remove or leave, change a role). Renaming
//! is `PATCH /conversations/{id}` (in `conversations.rs`); sending, history, reads, edits and
//! deletions are the conversation routes, the same for both kinds.
//!
//! A non-member gets 404 for everything about a group, as for a pair; a member who may not do
//! something gets 403.

use crate::auth::Authenticated;
use crate::dto::{
    AddMemberRequest, ConversationDto, ConversationEnvelope, CreateGroupRequest, MemberDto,
    MemberEnvelope, MemberList, RoleDto, RoleRequest, UserDto,
};
use crate::error::{ApiError, ErrorBody};
use crate::ids::conversation_id;
use crate::json::{required, ApiJson};
use crate::limits::within;
use crate::params::ApiPath;
use crate::state::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use domain::{GroupTitle, Member, Role};
use kv::Limit;
use projections::history::queries;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_group))
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member, set_member_role))
}

fn member_dto(member: &Member, role: Option<Role>) -> MemberDto {
    MemberDto {
        user: UserDto {
            id: member.id.as_uuid(),
            username: member.username.to_string(),
            display_name: member.display_name.to_string(),
        },
        role: role.map_or(RoleDto::Member, RoleDto::from),
    }
}

#[utoipa::path(
    post, path = "/api/v1/groups", tag = "groups",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created; the caller is its owner", body = ConversationEnvelope),
        (status = 422, description = "Invalid title (field `title`), an unknown username or too many members (field `members`, the message names the username)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn create_group(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiJson(body): ApiJson<CreateGroupRequest>,
) -> Result<(StatusCode, Json<ConversationEnvelope>), ApiError> {
    let title = GroupTitle::parse(required(&body.title, "title")?)?;
    let members = body
        .members
        .as_ref()
        .ok_or_else(|| ApiError::validation("members", "is required"))?;
    within(&state.rate, Limit::Start, auth.session.user_id).await?;
    let me = auth.session.user_id;
    let (id, appended) = state
        .conversations
        .create_group(me, title.clone(), members)
        .await?;
    super::conversations::wait_for_history(&state, appended).await;
    let conversation =
        match queries::conversation_for(&state.pool, me.as_uuid(), id.as_uuid()).await? {
            Some(summary) => {
                ConversationDto::new(&super::conversations::me(&state, &auth).await?, summary)
            }
            // The model lags: the creation stands, and its answer must not say otherwise.
            None => {
                let count = state
                    .conversations
                    .for_member(id, me)
                    .await?
                    .members()
                    .len();
                ConversationDto::new_group(id.as_uuid(), title.as_str().to_owned(), count)
            }
        };
    Ok((
        StatusCode::CREATED,
        Json(ConversationEnvelope { conversation }),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/conversations/{id}/members", tag = "groups",
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "Its members, in the order they joined (a pair's two as `member`)", body = MemberList),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn list_members(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MemberList>, ApiError> {
    let id = conversation_id(&id)?;
    let membership = state
        .conversations
        .for_member(id, auth.session.user_id)
        .await?;
    let roster = membership.roster();
    Ok(Json(MemberList {
        members: roster
            .members()
            .iter()
            .map(|m| member_dto(m, roster.role(m.id)))
            .collect(),
    }))
}

#[utoipa::path(
    post, path = "/api/v1/conversations/{id}/members", tag = "groups",
    params(("id" = Uuid, Path)),
    request_body = AddMemberRequest,
    responses(
        (status = 201, description = "Added; they see the group from now on", body = MemberEnvelope),
        (status = 200, description = "Already a member", body = MemberEnvelope),
        (status = 403, description = "Only the owner and admins add members (code not_admin)", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 409, description = "A pair (code not_a_group), or the group is full (code group_full)", body = ErrorBody),
        (status = 422, description = "Unknown username (field `username`)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn add_member(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AddMemberRequest>,
) -> Result<(StatusCode, Json<MemberEnvelope>), ApiError> {
    let id = conversation_id(&id)?;
    let username = required(&body.username, "username")?;
    let me = auth.session.user_id;
    let (added, appended) = state.conversations.add_member(id, me, username).await?;
    let role = state
        .conversations
        .for_member(id, me)
        .await?
        .roster()
        .role(added.id);
    let status = if appended.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MemberEnvelope {
            member: member_dto(&added, role),
        }),
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/conversations/{id}/members/{username}", tag = "groups",
    params(("id" = Uuid, Path), ("username" = String, Path)),
    responses(
        (status = 204, description = "Removed, or the caller left (their own username); they lose access at once. An owner who leaves hands the group to its oldest admin, else its oldest member; the last member leaving closes it"),
        (status = 403, description = "Only the owner and admins remove others, only the owner removes an admin, nobody the owner (codes not_admin, not_allowed)", body = ErrorBody),
        (status = 404, description = "No such conversation, not a member, or no such member", body = ErrorBody),
        (status = 409, description = "A pair (code not_a_group)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn remove_member(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath((id, username)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = conversation_id(&id)?;
    let appended = state
        .conversations
        .remove_member(id, auth.session.user_id, &username)
        .await?;
    super::conversations::wait_for_history(&state, appended).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch, path = "/api/v1/conversations/{id}/members/{username}", tag = "groups",
    params(("id" = Uuid, Path), ("username" = String, Path)),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "The member with their new role", body = MemberEnvelope),
        (status = 403, description = "Only the owner changes roles (code not_owner); the owner's own role changes only by handing over (code not_allowed)", body = ErrorBody),
        (status = 404, description = "No such conversation, not a member, or no such member", body = ErrorBody),
        (status = 409, description = "A pair (code not_a_group)", body = ErrorBody),
        (status = 422, description = "Invalid role (field `role`)", body = ErrorBody),
    ),
    security(("session_cookie" = []), ("bearer" = []))
)]
async fn set_member_role(
    State(state): State<ApiState>,
    auth: Authenticated,
    ApiPath((id, username)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<RoleRequest>,
) -> Result<Json<MemberEnvelope>, ApiError> {
    let id = conversation_id(&id)?;
    let role = body
        .role
        .ok_or_else(|| ApiError::validation("role", "is required"))?;
    let me = auth.session.user_id;
    state
        .conversations
        .set_role(id, me, &username, role.into())
        .await?;
    let membership = state.conversations.for_member(id, me).await?;
    let roster = membership.roster();
    let member = roster
        .members()
        .iter()
        .find(|m| m.username.as_str() == username.trim().to_ascii_lowercase())
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(Json(MemberEnvelope {
        member: member_dto(member, roster.role(member.id)),
    }))
}
