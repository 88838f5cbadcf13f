# Stand-in for the few Chatwoot (Rails/ActiveRecord) models the chatwoot-admin snippet uses,
# so the REAL snippet runs under a real Ruby (`ruby -r` this file, as `rails runner` would
# with the app's models loaded). Tables live in a JSON file (CHATWOOT_STANDIN_DB).
#
# Modelled from Chatwoot's own models and schema (github.com/chatwoot/chatwoot, develop):
# * users: `type` column for STI (`class SuperAdmin < User`), unique index on email, Devise
#   `encrypted_password`, `confirmed_at` (Devise :confirmable; `skip_confirmation!` sets it);
#   a password-complexity validation (upper, lower, digit, special character) that
#   `save!(validate: false)` skips -- the unique email index still applies;
# * accounts: `name` required;
# * account_users: `role` enum {agent: 0, administrator: 1}, unique (account_id, user_id);
# * channel_web_widgets: `website_url` required; inboxes: `name`, `account_id`, a polymorphic
#   `channel`; `account.inboxes` scoped to the account.
require "json"
require "digest"

module ActiveRecord
  class RecordInvalid < StandardError; end
  class RecordNotUnique < StandardError; end
end

module Standin
  PATH = ENV.fetch("CHATWOOT_STANDIN_DB")
  EMPTY = { "users" => [], "accounts" => [], "account_users" => [], "channel_web_widgets" => [], "inboxes" => [] }

  def self.db
    @db ||= File.exist?(PATH) ? JSON.parse(File.read(PATH)) : JSON.parse(JSON.generate(EMPTY))
  end

  def self.save
    File.write(PATH, JSON.generate(db))
  end

  def self.insert(table, row)
    rows = db[table]
    row = row.merge("id" => (rows.map { |r| r["id"] }.max || 0) + 1)
    rows << row
    save
    row
  end
end

class Record
  class << self
    attr_writer :table

    def table = @table || (superclass.respond_to?(:table) ? superclass.table : nil)
  end

  attr_reader :attrs

  def initialize(attrs = {})
    @attrs = attrs.transform_keys(&:to_s)
  end

  def id = @attrs["id"]

  def method_missing(name, *args)
    key = name.to_s
    return @attrs[key] if @attrs.key?(key)

    super
  end

  def respond_to_missing?(name, priv = false) = @attrs.key?(name.to_s) || super

  def self.rows = Standin.db[table]

  def self.where_rows(conds)
    conds = conds.transform_keys(&:to_s).transform_values { |v| v.is_a?(Record) ? v.id : v }
    rows.select { |r| conds.all? { |k, v| r[k] == v } }
  end

  def self.build(row) = new(row)

  def self.find_by(**conds)
    row = where_rows(conds).first
    row && build(row)
  end

  def self.exists?(**conds) = !where_rows(conds).empty?

  def self.create!(**attrs)
    obj = new(attrs.transform_values { |v| v.is_a?(Record) ? v.id : v })
    obj.validate!
    obj.insert!
    obj
  end

  def validate!; end

  def insert!
    @attrs = Standin.insert(self.class.table, @attrs)
  end

  def update!(**attrs)
    row = self.class.rows.find { |r| r["id"] == id }
    row.merge!(attrs.transform_keys(&:to_s))
    @attrs.merge!(attrs.transform_keys(&:to_s))
    Standin.save
    true
  end
end

class User < Record
  self.table = "users"
  COMPLEX = /\A(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*[^A-Za-z0-9])/

  def self.build(row) = (row["type"] == "SuperAdmin" ? SuperAdmin : User).new(row)

  def initialize(attrs = {})
    super
    @password = @attrs.delete("password")
    confirmation = @attrs.delete("password_confirmation")
    raise ArgumentError, "password confirmation differs" if confirmation && confirmation != @password

    @attrs["type"] ||= (self.class == User ? nil : self.class.name)
  end

  def skip_confirmation!
    @attrs["confirmed_at"] = "2026-01-01T00:00:00Z"
  end

  def validate!
    raise ActiveRecord::RecordInvalid, "Email can't be blank" if @attrs["email"].to_s.empty?
    raise ActiveRecord::RecordInvalid, "Password must contain upper, lower, digit and special" unless @password.to_s.match?(COMPLEX)
  end

  def save!(validate: true)
    validate! if validate
    raise ActiveRecord::RecordInvalid, "Password can't be blank" if @password.to_s.empty?
    raise ActiveRecord::RecordNotUnique, "users.email" if User.exists?(email: @attrs["email"])

    @attrs["encrypted_password"] = "standin-digest:" + Digest::SHA256.hexdigest(@password)
    insert!
    true
  end
end

class SuperAdmin < User; end

class Account < Record
  self.table = "accounts"

  def validate!
    raise ActiveRecord::RecordInvalid, "Name can't be blank" if @attrs["name"].to_s.empty?
  end

  def inboxes = Scope.new(Inbox, "account_id" => id)
end

class Scope
  def initialize(model, conds)
    @model, @conds = model, conds
  end

  def exists?(**more) = @model.exists?(**@conds.transform_keys(&:to_sym), **more)
end

class AccountUser < Record
  self.table = "account_users"
  ROLES = { agent: 0, administrator: 1 }

  def validate!
    raise ArgumentError, "'#{@attrs['role']}' is not a valid role" unless ROLES.key?(@attrs["role"].to_s.to_sym)
    raise ActiveRecord::RecordNotUnique, "account_users" if AccountUser.exists?(account_id: @attrs["account_id"], user_id: @attrs["user_id"])

    @attrs["role"] = @attrs["role"].to_s
  end
end

module Channel
  class WebWidget < Record
    self.table = "channel_web_widgets"

    def validate!
      raise ActiveRecord::RecordInvalid, "Website url can't be blank" if @attrs["website_url"].to_s.empty?
    end
  end
end

class Inbox < Record
  self.table = "inboxes"

  def initialize(attrs = {})
    channel = attrs.delete(:channel) || attrs.delete("channel")
    super
    if channel
      @attrs["channel_type"] = channel.class.name
      @attrs["channel_id"] = channel.id
    end
  end

  def self.create!(**attrs)
    obj = new(attrs)
    obj.validate!
    obj.insert!
    obj
  end

  def validate!
    raise ActiveRecord::RecordInvalid, "Name can't be blank" if @attrs["name"].to_s.empty?
    raise ActiveRecord::RecordInvalid, "Channel must exist" unless @attrs["channel_id"]
  end
end
