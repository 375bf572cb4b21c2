"""Who may ask, and who may administer: allowlists of user and chat ids, admins by id."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.config import Settings


@dataclass(frozen=True)
class AccessPolicy:
    """Optional allowlists and the admins.

    With both allowlists empty everyone may ask. Otherwise a user may ask when they are
    allowlisted, when the chat they write in is, or when they are an admin: a newspaper can
    open the bot to its readers' group without listing every member.
    """

    allowed_users: frozenset[int] = frozenset()
    allowed_chats: frozenset[int] = frozenset()
    admins: frozenset[int] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """The policy configured in ``settings``."""
        return cls(settings.allowed_users, settings.allowed_chats, settings.admins)

    def may_ask(self, user_id: int | None, chat_id: int | None) -> bool:
        """Whether ``user_id`` may use the bot in ``chat_id``."""
        if not (self.allowed_users or self.allowed_chats):
            return True
        return (
            user_id in self.allowed_users or chat_id in self.allowed_chats or self.is_admin(user_id)
        )

    def is_admin(self, user_id: int | None) -> bool:
        """Whether ``user_id`` may use the admin commands (nobody, when no admin is set)."""
        return user_id is not None and user_id in self.admins
