"""The built-in SMS carrier: speaks Twilio's wire format and the generic gateway contract, over real HTTP."""
