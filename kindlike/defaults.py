"""The node image builder's old import (kindlike/nodeimage/ is being rewritten
on another branch); everything else imports kindlike.constants. Remove once
that rewrite has moved to kindlike.constants."""
from kindlike.constants import DEFAULT_NODE_IMAGE

__all__ = ["DEFAULT_NODE_IMAGE"]
