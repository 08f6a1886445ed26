"""The plain types the engines and adapters share: messages and decisions, a model call,
the response plan. No discord.py, no SDK types; the ports (Protocols) are in
``framework.ports``."""

from .attachments import Attachment, ImageBlock
from .llm import (
    RETRYABLE,
    BudgetExceeded,
    ChatTurn,
    ConversationScope,
    ErrorKind,
    LLMReply,
    LLMRequest,
    ModelSettings,
    ProviderError,
    ToolError,
    Usage,
    UsageRecord,
)
from .messages import Decision, IncomingMessage, StoredMessage
from .plan import PLAN_TOOL_NAME, PlannedMessage, ResponsePlan, TriggeringMessage, coerce_plan, plan_from_text

__all__ = [
    "Attachment",
    "RETRYABLE",
    "BudgetExceeded",
    "ChatTurn",
    "ConversationScope",
    "Decision",
    "ErrorKind",
    "ImageBlock",
    "IncomingMessage",
    "LLMReply",
    "LLMRequest",
    "ModelSettings",
    "PLAN_TOOL_NAME",
    "PlannedMessage",
    "ProviderError",
    "ResponsePlan",
    "StoredMessage",
    "ToolError",
    "TriggeringMessage",
    "Usage",
    "UsageRecord",
    "coerce_plan",
    "plan_from_text",
]
