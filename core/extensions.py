"""Extension instances, created once and bound to an app by ``create_app``."""

from flask_login import LoginManager
from flask_wtf import CSRFProtect

from core.db import Database

db = Database()
csrf = CSRFProtect()
login_manager = LoginManager()
