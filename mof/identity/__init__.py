"""Identity: people and groups from the directory (Active Directory over LDAP, OpenID Connect
single sign-on), mapped onto the Team Model. See README "Directory sign-in and single sign-on"."""
