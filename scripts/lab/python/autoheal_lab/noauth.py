"""noauth2 that keeps the token.

Nova's stock noauth2 middleware builds the request context without the caller's token, so
nova-api cannot call Glance or Neutron on the caller's behalf ("No valid authentication is
available"). This subclass copies `X-Auth-Token` into the context; api-paste.ini's
[filter:noauth2] points here in the lab image.
"""
import webob.dec

from nova.api.openstack import auth
from nova.api import wsgi


class TokenKeepingNoAuth(auth.NoAuthMiddleware):
    @webob.dec.wsgify(RequestClass=wsgi.Request)
    def __call__(self, req):
        response = self.base_call(req, True, always_admin=False)
        context = req.environ.get("nova.context")
        if context is not None:
            context.auth_token = req.headers.get("X-Auth-Token")
        return response
