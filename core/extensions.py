"""Extension instances, created once and bound to an app by ``create_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from core.db import Database

db = Database()
csrf = CSRFProtect()
login_manager = LoginManager()
# Limits are declared where they apply (the sign-in form); none by default.
limiter = Limiter(key_func=get_remote_address, default_limits=[])
