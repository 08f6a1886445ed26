"""AccessPolicy: who may talk to the bot, and where (the config's ``access`` section).

The one gate every path asks before it does anything with a person's words:

* the intake, for each stored message, before the reactive engine or profile extraction
  sees it (so the periodic check never has anything of a refused channel to look at);
* the agentic engine, before a follow-up or a conversation starter goes out;
* slash commands, through :meth:`AccessPolicy.allows_command`.

``open`` allows everything (every bot's behaviour before access control existed).
``master_dm`` is a private assistant: the master's DMs are answered, and nothing else is:
a DM from anyone else is stored but never answered nor sent to a model, and every
channel message is ignored, the master's included, because what is said in a channel is
said in front of others and a private assistant has no business there.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import IncomingMessage

__all__ = ["AccessPolicy", "OPEN", "DM_ONLY_REFUSAL", "UNAUTHORIZED_REFUSAL"]

DM_ONLY_REFUSAL = "this command only works in DMs"
UNAUTHORIZED_REFUSAL = "unauthorized"


@dataclass(frozen=True)
class AccessPolicy:
    mode: str = "open"  # "open" | "master_dm"
    master_user_id: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("open", "master_dm"):
            raise ValueError(f"unknown access mode {self.mode!r}")
        if self.mode == "master_dm" and not self.master_user_id:
            raise ValueError("access mode master_dm needs the master's user id")

    @property
    def restricted(self) -> bool:
        return self.mode == "master_dm"

    def refusal(self, message: IncomingMessage) -> str | None:
        """Why ``message`` must not be acted on, or None when it may be.

        The bot's own messages always pass: they are history (and the gates count them),
        never a request.
        """
        if not self.restricted or message.is_self:
            return None
        if not message.is_dm:
            return "access master_dm: channel messages are ignored, the master's included"
        if message.author_id != self.master_user_id:
            return "access master_dm: a DM from someone who is not the master"
        return None

    def allows(self, message: IncomingMessage) -> bool:
        return self.refusal(message) is None

    def allows_unprompted(self, *, guild_id: str | None, user_id: str | None) -> bool:
        """May the bot speak unasked (a follow-up, a conversation starter) here?

        Restricted: only in a DM, and only to the master.
        """
        if not self.restricted:
            return True
        return guild_id is None and user_id == self.master_user_id

    def allows_command(self, user_id: str, in_dm: bool) -> str | None:
        """None when the slash command may run; else the refusal to show (ephemeral)."""
        if not self.restricted:
            return None
        if not in_dm:
            return DM_ONLY_REFUSAL
        if user_id != self.master_user_id:
            return UNAUTHORIZED_REFUSAL
        return None


OPEN = AccessPolicy()
