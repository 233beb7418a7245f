"""People and their roles, as the workspace configuration lists them."""

from __future__ import annotations

from riskops.config import Role, Settings
from riskops.errors import InputError, PermissionDeniedError


def require_actor(actor: str | None) -> str:
    """The acting person's name; every state change needs one."""
    if not actor or not actor.strip():
        raise InputError(
            "This action changes a model's state, so it needs the name of who does it.",
            hint="Add --as NAME (or set RISKOPS_ACTOR); names and roles are in riskops.toml.",
        )
    return actor.strip()


def require_role(settings: Settings, actor: str, *allowed: Role, doing: str) -> Role:
    """The role under which ``actor`` may do ``doing``, or PermissionDeniedError."""
    roles = settings.people.get(actor)
    wanted = " or ".join(r.value for r in allowed)
    if roles is None:
        where = settings.config_file or (settings.home / "riskops.toml")
        raise PermissionDeniedError(
            f"{actor!r} is not a known person in this workspace, so cannot {doing}.",
            actor=actor,
            hint=f'Add them to [people] in {where}, e.g. {actor} = ["{allowed[0].value}"]',
        )
    for role in allowed:
        if role in roles:
            return role
    held = ", ".join(sorted(r.value for r in roles))
    raise PermissionDeniedError(
        f"{actor} ({held}) cannot {doing}: that needs the role {wanted}.",
        actor=actor,
        hint=f"Ask a person with the role {wanted} to do it.",
    )
