"""Sign-in flows and OAuth token handling for Google and Outlook (Microsoft Graph).

``oauth.OAuthTokenAuth`` is the ``Auth`` the calendar backends hand to ``HttpClient``: it reads the
contract token shape from the keyring, refreshes before expiry and after a 401, and writes the
new token back. ``google.login`` / ``outlook.login`` are the interactive flows behind
``wedsync auth login``; msal and google_auth_oauthlib are imported only inside them.
"""
