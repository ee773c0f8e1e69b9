"""Staff in the admin: who may sign in and what each may do, and your own password.

Everything goes through services/staff.py, which keeps the rules (a valid, unused e-mail
address, passwords of 10 characters or more, known permissions, at least one active owner).
Whether a button is offered is asked of that service by trying the change and not committing
it, so the page and the service never disagree. One rule is the admin's own: only an owner may
make someone an owner or change an owner's account, so managing staff is not a way to become
an owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from ...domain.errors import NotFound, OrderError
from ...services import staff as staff_service
from ...services.context import Orderdeck
from ...store.staff import PERMISSIONS, StaffMember
from ...store.uow import UnitOfWork
from .access import Admin, refusal, require, set_session_cookie
from .pages import render
from .settings import Form, Problems, refused_form, text, texts

router = APIRouter(prefix="/settings")
Managing = Annotated[Admin, Depends(require("manage_staff"))]
OWNERS_ONLY = "Only an owner can make someone an owner or change an owner's account."


def _refused(app: Orderdeck, work: Callable[[UnitOfWork], Any]) -> str | None:
    """Why the service would refuse this change, or None; nothing is kept either way."""
    with app.unit_of_work() as uow:
        try:
            work(uow)
        except OrderError as exc:
            return refusal(exc)
        finally:
            uow.rollback()
    return None


def _member(admin: Admin, staff_id: int) -> StaffMember:
    with admin.app.unit_of_work(read_only=True) as uow:
        member = uow.staff.get(staff_id)
    if member is None:
        raise NotFound(f"There is no staff member {staff_id}.")
    return member


def _why_not_deactivate(admin: Admin, member: StaffMember) -> str | None:
    if member.owner and not admin.staff.owner:
        return OWNERS_ONLY
    return _refused(admin.app, lambda uow: staff_service.change_staff(uow, member.id, active=False))


@router.get("/staff", summary="Staff accounts")
def staff_page(admin: Managing) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        members = uow.staff.all()
    return render(admin, "settings_staff.html", members=members, permissions=PERMISSIONS)


@router.get("/staff/new", summary="Add a staff member")
def new_staff(admin: Managing) -> Response:
    values = {"email": "", "name": "", "owner": False, "permissions": ["view_orders"]}
    return render(admin, "settings_staff_new.html", values=values, problems=Problems(), permissions=PERMISSIONS)


@router.post("/staff/new", summary="Add a staff member")
def add_staff(admin: Managing, form: Form) -> Response:
    values = {
        "email": text(form, "email"),
        "name": text(form, "name"),
        "owner": "owner" in form,
        "permissions": texts(form, "permissions"),
    }
    password = form.get("password")
    problems = Problems()
    if values["owner"] and not admin.staff.owner:
        problems["owner"] = OWNERS_ONLY
    else:
        try:
            with admin.app.unit_of_work() as uow:
                member = staff_service.add_staff(
                    uow,
                    email=str(values["email"]),
                    password=password if isinstance(password, str) else "",
                    name=str(values["name"]),
                    owner=bool(values["owner"]),
                    permissions=list(values["permissions"]),
                )
                uow.commit()
        except OrderError as exc:
            problems.add(exc)
        else:
            return admin.done(
                "/admin/settings/staff",
                f"{member.name} ({member.email}) can sign in now. Tell them their password in person.",
            )
    return refused_form(admin, "settings_staff_new.html", problems, values=values, permissions=PERMISSIONS)


def _member_page(
    admin: Admin, member: StaffMember, problems: Problems, values: dict[str, Any], status: int
) -> Response:
    with admin.app.unit_of_work(read_only=True) as uow:
        timezone = uow.shop.timezone
    return render(
        admin,
        "settings_staff_member.html",
        status=status,
        member=member,
        values=values,
        problems=problems,
        permissions=PERMISSIONS,
        timezone=timezone,
        owners_only=None if admin.staff.owner or not member.owner else OWNERS_ONLY,
        may_grant_owner=admin.staff.owner,
        why_not_deactivate=_why_not_deactivate(admin, member) if member.active else None,
        is_me=member.id == admin.staff.id,
    )


def _values_of(member: StaffMember) -> dict[str, Any]:
    return {"name": member.name, "owner": member.owner, "permissions": sorted(member.permissions)}


@router.get("/staff/{staff_id:int}", summary="A staff member")
def member_page(admin: Managing, staff_id: int) -> Response:
    member = _member(admin, staff_id)
    return _member_page(admin, member, Problems(), _values_of(member), 200)


@router.post("/staff/{staff_id:int}", summary="Change a staff member's name and permissions")
def change_member(admin: Managing, form: Form, staff_id: int) -> Response:
    member = _member(admin, staff_id)
    values = {"name": text(form, "name"), "owner": "owner" in form, "permissions": texts(form, "permissions")}
    problems = Problems()
    if not admin.staff.owner and (member.owner or values["owner"]):
        problems["owner"] = OWNERS_ONLY
    else:
        try:
            with admin.app.unit_of_work() as uow:
                staff_service.change_staff(
                    uow,
                    staff_id,
                    name=str(values["name"]),
                    owner=bool(values["owner"]),
                    # An owner holds every permission; the boxes matter once they are not.
                    permissions=None if values["owner"] else list(values["permissions"]),
                )
                uow.commit()
        except OrderError as exc:
            problems.add(exc)
        else:
            return admin.done(f"/admin/settings/staff/{staff_id}", f"Saved the account of {values['name']}.")
    return _member_page(admin, member, problems, values, 422)


def _set_active(admin: Admin, staff_id: int, active: bool) -> RedirectResponse:
    member = _member(admin, staff_id)
    back = f"/admin/settings/staff/{staff_id}"
    if member.owner and not admin.staff.owner:
        return admin.done(back, OWNERS_ONLY, kind="error")
    try:
        with admin.app.unit_of_work() as uow:
            staff_service.change_staff(uow, staff_id, active=active)
            uow.commit()
    except OrderError as exc:
        return admin.done(back, refusal(exc), kind="error")
    if not active and member.id == admin.staff.id:
        return RedirectResponse("/admin/login", status_code=303)  # their own sessions just ended
    if active:
        return admin.done(back, f"{member.name} can sign in again.")
    return admin.done(back, f"{member.name} is deactivated and signed out everywhere; they cannot sign in.")


@router.post("/staff/{staff_id:int}/deactivate", summary="Deactivate a staff member")
def deactivate(admin: Managing, staff_id: int) -> RedirectResponse:
    return _set_active(admin, staff_id, False)


@router.post("/staff/{staff_id:int}/reactivate", summary="Let a deactivated staff member sign in again")
def reactivate(admin: Managing, staff_id: int) -> RedirectResponse:
    return _set_active(admin, staff_id, True)


@router.post("/staff/{staff_id:int}/password", summary="Set a staff member's password")
def set_member_password(admin: Managing, form: Form, staff_id: int) -> Response:
    member = _member(admin, staff_id)
    if member.id == admin.staff.id:
        return admin.done("/admin/settings/account", "Change your own password here.", kind="info")
    problems = Problems()
    if member.owner and not admin.staff.owner:
        problems["password"] = OWNERS_ONLY
    else:
        password = form.get("password")
        try:
            with admin.app.unit_of_work() as uow:
                staff_service.set_password(uow, staff_id, password if isinstance(password, str) else "")
                uow.commit()
        except OrderError as exc:
            problems.add(exc)
        else:
            return admin.done(
                f"/admin/settings/staff/{staff_id}",
                f"{member.name} has a new password and was signed out everywhere.",
            )
    return _member_page(admin, member, problems, _values_of(member), 422)


# ---- your own account ------------------------------------------------------------------------
@router.get("/account", summary="Your account")
def account_page(admin: Annotated[Admin, Depends(require("view_orders"))]) -> Response:
    return render(admin, "settings_account.html", problems=Problems())


@router.post("/account/password", summary="Change your own password")
def change_own_password(admin: Annotated[Admin, Depends(require("view_orders"))], form: Form) -> Response:
    current, new, again = (form.get(k) for k in ("current_password", "new_password", "repeat_password"))
    problems = Problems()
    with admin.app.unit_of_work(read_only=True) as uow:
        found = uow.staff.by_email(admin.staff.email)
    try:
        staff_service.hasher().verify(found[1] if found else "", current if isinstance(current, str) else "")
    except (VerificationError, InvalidHashError):
        problems["current_password"] = "That is not your current password"
    if new != again:
        problems["repeat_password"] = "The two new passwords differ"
    if not problems:
        try:
            with admin.app.unit_of_work() as uow:
                staff_service.set_password(uow, admin.staff.id, new if isinstance(new, str) else "")
                # The service signs out every browser of this account; this one gets a new session.
                token = uow.staff.start_session(admin.staff.id, uow.now)
                uow.staff.set_flash(
                    token, {"kind": "success", "message": "Password changed. Your other browsers were signed out."}
                )
                uow.commit()
        except OrderError as exc:
            problems["new_password"] = exc.message[:1].upper() + exc.message[1:]
        else:
            response = RedirectResponse("/admin/settings/account", status_code=303)
            set_session_cookie(admin.request, response, token)
            return response
    return refused_form(admin, "settings_account.html", problems)
