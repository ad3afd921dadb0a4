//! LiteLLM price map import (filled in below).
