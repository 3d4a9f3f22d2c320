package aliyun

// JSON shapes of the Aliyundrive Open API, as the driver reads them. Field
// names follow the service (see docs/protocols/aliyun.md §1–§3).

import (
	"encoding/json"
	"errors"
)

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type tokenRequest struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	GrantType    string `json:"grant_type"`
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// renewResponse is a renew service's answer; Text explains a failure.
type renewResponse struct {
	RefreshToken string `json:"refresh_token"`
	AccessToken  string `json:"access_token"`
	Text         string `json:"text"`
}

type driveInfoResponse struct {
	UserID          string `json:"user_id"`
	DefaultDriveID  string `json:"default_drive_id"`
	ResourceDriveID string `json:"resource_drive_id"`
	BackupDriveID   string `json:"backup_drive_id"`
}

type spaceInfoResponse struct {
	PersonalSpaceInfo struct {
		UsedSize  int64 `json:"used_size"`
		TotalSize int64 `json:"total_size"`
	} `json:"personal_space_info"`
}

type fileItem struct {
	DriveID         string `json:"drive_id"`
	FileID          string `json:"file_id"`
	ParentFileID    string `json:"parent_file_id"`
	Name            string `json:"name"`
	Type            string `json:"type"` // file | folder
	Size            int64  `json:"size"` // absent for folders
	FileExtension   string `json:"file_extension"`
	ContentHash     string `json:"content_hash"`
	ContentHashName string `json:"content_hash_name"`
	Category        string `json:"category"`
	Status          string `json:"status"`
	CreatedAt       string `json:"created_at"`
	LocalModifiedAt string `json:"local_modified_at"`
	UpdatedAt       string `json:"updated_at"`
	// FileName stands in for Name in the answers of create and complete.
	FileName string `json:"file_name"`
}

type listRequest struct {
	DriveID      string `json:"drive_id"`
	ParentFileID string `json:"parent_file_id"`
	Limit        int    `json:"limit"`
	Marker       string `json:"marker,omitempty"`
}

type listResponse struct {
	Items      []fileItem `json:"items"`
	NextMarker string     `json:"next_marker"`
}

// incomplete: every page has an items list, [] when the folder is empty;
// none at all is an answer that is no page.
func (p *listResponse) incomplete() error {
	if p.Items == nil {
		return errors.New("a listing answer without its items")
	}
	return nil
}

type getRequest struct {
	DriveID string `json:"drive_id"`
	FileID  string `json:"file_id"`
}

type getByPathRequest struct {
	DriveID  string `json:"drive_id"`
	FilePath string `json:"file_path"`
}

type downloadURLRequest struct {
	DriveID   string `json:"drive_id"`
	FileID    string `json:"file_id"`
	ExpireSec int    `json:"expire_sec"`
}

type downloadURLResponse struct {
	URL        string `json:"url"`
	Expiration string `json:"expiration"`
	Method     string `json:"method"`
	Size       int64  `json:"size"`
}

// The write side (docs/protocols/aliyun.md §5).

type partInfo struct {
	PartNumber int    `json:"part_number"`
	UploadURL  string `json:"upload_url,omitempty"`
}

type createRequest struct {
	DriveID         string     `json:"drive_id"`
	ParentFileID    string     `json:"parent_file_id"`
	Name            string     `json:"name"`
	Type            string     `json:"type"` // file | folder
	CheckNameMode   string     `json:"check_name_mode"`
	Size            *int64     `json:"size,omitempty"`
	PartInfoList    []partInfo `json:"part_info_list,omitempty"`
	PreHash         string     `json:"pre_hash,omitempty"`
	ContentHash     string     `json:"content_hash,omitempty"`
	ContentHashName string     `json:"content_hash_name,omitempty"`
	ProofCode       string     `json:"proof_code,omitempty"`
	ProofVersion    string     `json:"proof_version,omitempty"`
	LocalCreatedAt  string     `json:"local_created_at,omitempty"`
	LocalModifiedAt string     `json:"local_modified_at,omitempty"`
}

// createResponse names the new item file_name, not name.
type createResponse struct {
	FileID       string     `json:"file_id"`
	ParentFileID string     `json:"parent_file_id"`
	FileName     string     `json:"file_name"`
	Type         string     `json:"type"`
	Exist        bool       `json:"exist"`
	RapidUpload  bool       `json:"rapid_upload"`
	UploadID     string     `json:"upload_id"`
	PartInfoList []partInfo `json:"part_info_list"`
	CreatedAt    string     `json:"created_at"`
	UpdatedAt    string     `json:"updated_at"`
}

type uploadRequest struct {
	DriveID      string     `json:"drive_id"`
	FileID       string     `json:"file_id"`
	UploadID     string     `json:"upload_id"`
	PartInfoList []partInfo `json:"part_info_list,omitempty"`
}

type uploadURLResponse struct {
	PartInfoList []partInfo `json:"part_info_list"`
}

type updateRequest struct {
	DriveID       string `json:"drive_id"`
	FileID        string `json:"file_id"`
	Name          string `json:"name"`
	CheckNameMode string `json:"check_name_mode"`
}

type moveRequest struct {
	DriveID        string `json:"drive_id"`
	FileID         string `json:"file_id"`
	ToParentFileID string `json:"to_parent_file_id"`
	NewName        string `json:"new_name,omitempty"`
	CheckNameMode  string `json:"check_name_mode"`
}

type copyRequest struct {
	DriveID        string `json:"drive_id"`
	FileID         string `json:"file_id"`
	ToDriveID      string `json:"to_drive_id"`
	ToParentFileID string `json:"to_parent_file_id"`
	AutoRename     bool   `json:"auto_rename"`
}

// taskResponse answers move, copy, trash and delete; a non-empty
// async_task_id is work still going on.
type taskResponse struct {
	Exist       bool   `json:"exist"`
	FileID      string `json:"file_id"`
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskRequest struct {
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskResponse struct {
	State   string `json:"state"` // Running | Succeed | Failed
	Message string `json:"message"`
}

// The web API (docs/protocols/aliyun.md §1–§3).

type webTokenRequest struct {
	RefreshToken string `json:"refresh_token"`
	GrantType    string `json:"grant_type"`
}

// webTokenResponse also names the user, whose id the device signature
// is made from.
type webTokenResponse struct {
	TokenType      string `json:"token_type"`
	AccessToken    string `json:"access_token"`
	RefreshToken   string `json:"refresh_token"`
	ExpiresIn      int64  `json:"expires_in"`
	UserID         string `json:"user_id"`
	DefaultDriveID string `json:"default_drive_id"`
}

type createSessionRequest struct {
	DeviceName   string `json:"deviceName"`
	ModelName    string `json:"modelName"`
	Nonce        int    `json:"nonce"`
	PubKey       string `json:"pubKey"`
	RefreshToken string `json:"refreshToken"`
}

type webListRequest struct {
	DriveID        string `json:"drive_id"`
	ParentFileID   string `json:"parent_file_id"`
	Limit          int    `json:"limit"`
	Marker         string `json:"marker,omitempty"`
	All            bool   `json:"all"`
	Fields         string `json:"fields"`
	OrderBy        string `json:"order_by"`
	OrderDirection string `json:"order_direction"`
	URLExpireSec   int    `json:"url_expire_sec"`
}

// Share links (docs/protocols/aliyun.md §4).

type shareFileInfo struct {
	Type     string `json:"type"`
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
}

type shareInfoResponse struct {
	ShareName   string          `json:"share_name"`
	DisplayName string          `json:"display_name"`
	CreatorName string          `json:"creator_name"`
	Expiration  string          `json:"expiration"`
	FileCount   int             `json:"file_count"`
	HasPwd      bool            `json:"has_pwd"`
	FileInfos   []shareFileInfo `json:"file_infos"`
}

type shareIDRequest struct {
	ShareID string `json:"share_id"`
}

type shareTokenRequest struct {
	ShareID  string `json:"share_id"`
	SharePwd string `json:"share_pwd"`
}

type shareTokenResponse struct {
	ShareToken string `json:"share_token"`
	ExpireTime string `json:"expire_time"`
	ExpiresIn  int64  `json:"expires_in"`
}

type shareListRequest struct {
	ShareID        string `json:"share_id"`
	ParentFileID   string `json:"parent_file_id"`
	Limit          int    `json:"limit"`
	Marker         string `json:"marker,omitempty"`
	OrderBy        string `json:"order_by"`
	OrderDirection string `json:"order_direction"`
}

type shareLinkRequest struct {
	DriveID   string `json:"drive_id"`
	FileID    string `json:"file_id"`
	ShareID   string `json:"share_id"`
	ExpireSec int    `json:"expire_sec"`
}

type shareLinkResponse struct {
	DownloadURL string `json:"download_url"`
	URL         string `json:"url"`
	Expiration  string `json:"expiration"`
}

type batchSubRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
}

type batchRequest struct {
	Resource string            `json:"resource"`
	Requests []batchSubRequest `json:"requests"`
}

type batchSubResponse struct {
	ID     string          `json:"id"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

type batchResponse struct {
	Responses []batchSubResponse `json:"responses"`
}

// shareCopyBody saves a shared file into the user's drive.
type shareCopyBody struct {
	FileID         string `json:"file_id"`
	ShareID        string `json:"share_id"`
	AutoRename     bool   `json:"auto_rename"`
	ToParentFileID string `json:"to_parent_file_id"`
	ToDriveID      string `json:"to_drive_id"`
}
