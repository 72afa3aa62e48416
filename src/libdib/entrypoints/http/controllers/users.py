"""Accounts: sign up, who am I, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import RequestBody

from libdib.config import Settings
from libdib.domain.errors import Forbidden
from libdib.domain.identity import Claims, User
from libdib.domain.users import UserService, WeakPassword
from libdib.entrypoints.http.clients import client_address
from libdib.entrypoints.http.openapi import PUBLIC, THROTTLED
from libdib.entrypoints.http.parameters import UserId
from libdib.entrypoints.http.schemas.identity import ChangePasswordRequest, SignUpRequest, UserResponse


class UserController(Controller):
    """``/users``: open sign-up; everything else needs an access token."""

    path = "/users"
    tags = ["users"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/",
        operation_id="SignUp",
        summary="Create an account",
        security=PUBLIC,
        opt={"exclude_from_auth": True},
        responses={
            403: ResponseSpec(None, description="Sign-up is closed on this server"),
            409: ResponseSpec(None, description="The username is taken (in any letter case)"),
            422: ResponseSpec(None, description="The username or password breaks the rules; `detail` says how"),
        },
    )
    async def sign_up(
        self,
        data: RequestBody[SignUpRequest],
        settings: NamedDependency[Settings],
        user_service: NamedDependency[UserService],
    ) -> UserResponse:
        """Open to anyone while `LIBDIB_ALLOW_SIGNUP` is true; the password must pass the strength policy."""
        if not settings.allow_signup:
            raise Forbidden("signup is closed; ask an administrator for an account")
        user = await user_service.sign_up(data.username, data.password)
        return UserResponse.from_domain(user)

    @get("/me", operation_id="GetCurrentUser", summary="The account of the access token")
    async def me(self, request: Request[User, Claims, Any]) -> UserResponse:
        """The user the access token was issued to."""
        return UserResponse.from_domain(request.user)

    @delete(
        "/{user_id:int}",
        operation_id="DeleteUser",
        summary="Delete an account and end all its sessions",
        responses={
            403: ResponseSpec(None, description="Neither the account's owner nor an admin"),
            404: ResponseSpec(None, description="No such user"),
            409: ResponseSpec(None, description="The last admin account cannot be deleted"),
        },
    )
    async def delete_user(
        self, request: Request[User, Claims, Any], user_id: UserId, user_service: NamedDependency[UserService]
    ) -> None:
        """Allowed for the user themself and for admins; every token of the deleted user stops working at once."""
        await user_service.delete(request.user, user_id)

    @put(
        "/me/password",
        operation_id="ChangePassword",
        summary="Change the password of the access token's account",
        status_code=204,
        responses={
            401: ResponseSpec(None, description="`current_password` is wrong (counted as a failed login)"),
            422: ResponseSpec(None, description="`new_password` breaks the rules; `detail` says how"),
            429: THROTTLED,
        },
    )
    async def change_password(
        self,
        request: Request[User, Claims, Any],
        data: RequestBody[ChangePasswordRequest],
        user_service: NamedDependency[UserService],
    ) -> None:
        """Every other session of the account ends at once; the calling session goes on."""
        try:
            await user_service.change_password(
                request.user, request.auth.sid, data.current_password, data.new_password, client_address(request)
            )
        except WeakPassword as weak:
            # The domain's rule speaks of `password`; in this body the field is `new_password`.
            raise WeakPassword(f"new_{weak}" if str(weak).startswith("password:") else str(weak)) from None
